//! Generated wire types (prost + tonic) with proto3-JSON (pbjson). They stop at the edge:
//! [`crate::wire`] converts them to domain types.

// The .proto comments are written for API readers, not as rustdoc: `<id>` placeholders read
// as HTML tags there.
#![allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/gatehouse.v1.rs"));
include!(concat!(env!("OUT_DIR"), "/gatehouse.v1.serde.rs"));

/// The descriptor set of all services, with options, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gatehouse_descriptor.bin"));
