//! The container image's recipe (no container engine here to build it): every base image is
//! pinned by digest, the binary is stripped with its debug info split off, the OCI labels are
//! there, and the HEALTHCHECK runs the binary's own `healthcheck` (no shell in distroless).

use crate::support::repo;

fn dockerfile() -> String {
    std::fs::read_to_string(repo().join("Dockerfile")).unwrap()
}

#[test]
fn every_base_image_is_pinned_by_digest() {
    let text = dockerfile();
    let froms: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.to_ascii_uppercase().starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "{froms:?}");
    for from in froms {
        let image = from.split_whitespace().nth(1).unwrap();
        if image == "scratch" {
            continue;
        }
        let (name, digest) = image
            .split_once("@sha256:")
            .unwrap_or_else(|| panic!("`{from}`: the base image is not pinned by digest"));
        assert!(name.contains(':'), "`{from}`: keep the tag for readers");
        assert!(
            digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
            "`{from}`: a sha256 digest is 64 hex digits"
        );
    }
}

#[test]
fn the_image_is_stripped_labelled_and_checks_its_health_without_a_shell() {
    let text = dockerfile();
    assert!(text.contains("objcopy --only-keep-debug"));
    assert!(text.contains("--strip-debug"));
    assert!(text.contains("--add-gnu-debuglink"));
    for label in [
        "title",
        "description",
        "source",
        "licenses",
        "version",
        "revision",
        "created",
    ] {
        assert!(
            text.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label} missing"
        );
    }
    let hc = text
        .lines()
        .skip_while(|l| !l.starts_with("HEALTHCHECK"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        hc.contains(r#"CMD ["/usr/local/bin/itsm-bridge", "healthcheck""#),
        "exec form, no shell: {hc}"
    );
}
