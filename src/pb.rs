//! Generated wire types (prost + tonic) with proto3-JSON (pbjson). They stop at the edge:
//! [`crate::wire`] converts them to domain types.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/gatehouse.v1.rs"));
include!(concat!(env!("OUT_DIR"), "/gatehouse.v1.serde.rs"));

/// The descriptor set of all services, with options, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gatehouse_descriptor.bin"));
