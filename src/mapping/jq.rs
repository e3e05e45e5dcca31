//! `jq` rules, run in-process by jaq: compiled once when the mapping loads, run on the event
//! body. The first output is the value; no output (`empty`) or `null` counts as missing.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

type Filter = jaq_core::Filter<data::JustLut<Val>>;

/// A compiled jq program.
pub struct Jq {
    filter: Filter,
    pub source: String,
}

impl std::fmt::Debug for Jq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jq({:?})", self.source)
    }
}

impl Jq {
    pub fn compile(code: &str) -> Result<Jq, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errs| format!("jq does not parse: {}", describe(&errs)))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| format!("jq does not compile: {}", describe(&errs)))?;
        Ok(Jq {
            filter,
            source: code.to_owned(),
        })
    }

    /// Runs the program on `input`; `Ok(None)` when it yields nothing or null.
    pub fn run(&self, input: &Value) -> Result<Option<Value>, String> {
        let val: Val = serde_json::from_value(input.clone()).map_err(|e| e.to_string())?;
        self.run_val(val)
    }

    /// Runs on an already converted input (the benchmark converts once per event).
    pub fn run_val(&self, val: Val) -> Result<Option<Value>, String> {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = self.filter.id.run((ctx, val)).map(unwrap_valr);
        match out.next() {
            None => Ok(None),
            Some(Err(e)) => Err(format!("jq failed: {e}")),
            Some(Ok(v)) => {
                let v: Value = serde_json::from_str(&v.to_string())
                    .map_err(|e| format!("jq produced a value that is not JSON: {e}"))?;
                Ok((!v.is_null()).then_some(v))
            }
        }
    }
}

fn describe<T: std::fmt::Debug>(errs: &T) -> String {
    // jaq's errors carry the offending token; Debug is the only stable rendering.
    let s = format!("{errs:?}");
    s.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn runs_a_program_and_treats_empty_as_missing() {
        let jq = Jq::compile(r#"[.labels[] | ascii_upcase] | join(",")"#).unwrap();
        assert_eq!(
            jq.run(&json!({"labels": ["a", "b"]})).unwrap(),
            Some(json!("A,B"))
        );
        assert_eq!(Jq::compile("empty").unwrap().run(&json!(1)).unwrap(), None);
        assert!(
            Jq::compile(".a | ")
                .unwrap_err()
                .contains("jq does not parse")
        );
        assert!(
            Jq::compile("nosuchfn(1)")
                .unwrap_err()
                .contains("jq does not compile")
        );
    }
}
