pub mod capsule;
pub mod transport;
