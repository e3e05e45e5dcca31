//! The one integration-test binary: boots the real app on port 0 against the simulators.

mod crash;
mod ingress;
mod ingress_props;
mod roundtrip_clients;
mod store_conformance;
mod support;
