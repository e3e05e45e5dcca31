//! Property tests: no signature header, body or JSON shape makes the ingress panic.

use axum::http::HeaderMap;
use itsm_bridge::config::{HmacEncoding, Secret, WebhookAuth};
use itsm_bridge::domain::SourceKind;
use itsm_bridge::mapping::keys::default_keys;
use proptest::prelude::*;

fn methods() -> Vec<WebhookAuth> {
    vec![
        WebhookAuth::HubSignature {
            secret: Secret::new("secret-one"),
        },
        WebhookAuth::Basic {
            username: "u".into(),
            password: Secret::new("password-two"),
        },
        WebhookAuth::Bearer {
            token: Secret::new("token-three"),
        },
        WebhookAuth::Hmac {
            header: "X-Signature".into(),
            secret: Secret::new("k4"),
            encoding: HmacEncoding::Base64,
        },
        WebhookAuth::Hmac {
            header: "X-Sig-Hex".into(),
            secret: Secret::new("k5"),
            encoding: HmacEncoding::Hex,
        },
    ]
}

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("issue".to_owned()),
                    Just("comment".to_owned()),
                    Just("id".to_owned()),
                    Just("sys_id".to_owned()),
                    Just("self".to_owned()),
                    Just("webhookEvent".to_owned()),
                    ".{0,8}".prop_map(|s| s)
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_signature_header_is_handled_without_panic(
        header in prop_oneof![Just("x-hub-signature"), Just("authorization"), Just("x-signature"), Just("x-sig-hex")],
        value in "[ -~]{0,200}",
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut h = HeaderMap::new();
        if let Ok(v) = value.parse() {
            h.insert(header, v);
        }
        let r = itsm_bridge::http::auth::verify(&methods(), &h, &body);
        prop_assert!(r.is_err(), "random credentials must not pass");
    }

    #[test]
    fn any_json_gets_keys_without_panic(v in arb_json(), kind in prop_oneof![Just(SourceKind::Jira), Just(SourceKind::Servicenow), Just(SourceKind::Generic)]) {
        let raw = serde_json::to_vec(&v).unwrap();
        let k = default_keys(kind, &HeaderMap::new(), &v, &raw);
        prop_assert!(!k.dedupe.is_empty());
    }
}
