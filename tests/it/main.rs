//! The one integration-test binary: boots the real app on port 0 against the simulators.

mod chart;
mod crash;
mod delivery_chaos;
mod delivery_crash;
mod delivery_e2e;
mod delivery_support;
mod delivery_webhooks;
mod ingress;
mod ingress_props;
mod mapping_errors;
mod mapping_golden;
mod mapping_live;
mod mapping_props;
mod replicas;
mod roundtrip_clients;
mod roundtrip_e2e;
mod roundtrip_jira;
mod sandbox;
mod sim_faults;
mod sim_incident;
mod sim_itsm;
mod sim_orange_auth;
mod sim_other_orange;
mod sim_support;
mod store_conformance;
mod support;
