//! The `zoom` crate against `fake_zoom::FakeZoom` on loopback.

mod common;
mod oauth;
mod rest;
mod session;
