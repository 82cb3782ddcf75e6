pub mod capsule;
