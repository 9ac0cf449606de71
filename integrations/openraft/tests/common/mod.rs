#![allow(dead_code)]
pub mod slow;
pub mod sm;
