//! Integration tests of the fake Zoom, through real loopback sockets.

mod binary;
mod chat;
mod common;
mod control;
mod oauth;
mod webhook;
mod ws;
