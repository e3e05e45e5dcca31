//! The one integration-test binary: boots the real app on port 0 against the simulators.

mod mapping_errors;
mod mapping_golden;
mod mapping_live;
mod mapping_props;
mod support;
