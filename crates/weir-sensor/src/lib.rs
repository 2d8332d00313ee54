//! weir-sensor
