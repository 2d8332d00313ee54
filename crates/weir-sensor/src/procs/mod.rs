//! Process knowledge: the live process table with lineage, the /proc
//! snapshot taken at start, and cgroup/container parsing.

pub mod container;
pub mod procfs;
pub mod table;

pub use table::{ProcInfo, ProcTable};
