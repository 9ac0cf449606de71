#![allow(dead_code)]
pub mod sm;
