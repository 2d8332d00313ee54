//! weir-ship
