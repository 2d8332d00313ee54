//! weir-vuln
