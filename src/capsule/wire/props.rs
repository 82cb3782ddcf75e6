//! Property tests: every wire decoder, fed the recorded fixtures of `tests/fixtures/capsule/`
//! with values mutated, types changed and keys dropped or added, and fed random JSON, never
//! panics, and every error names a JSON path that exists in the input, at or around a place
//! that was mutated. The numbers of cases run are asserted so a report can quote them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use super::*;

type Decoder = fn(&Value) -> Result<(), DecodeError>;

fn run<T: serde::de::DeserializeOwned>(v: &Value) -> Result<(), DecodeError> {
    decode::<T>(v).map(drop)
}

/// Every wire type, by the name `tests/fixtures/capsule/index.json` uses.
const DECODERS: &[(&str, Decoder)] = &[
    ("ApiErrorBody", run::<ApiErrorBody>),
    ("Party", run::<Party>),
    ("DeletedRecord", run::<DeletedRecord>),
    ("RestrictedRecord", run::<RestrictedRecord>),
    ("Opportunity", run::<Opportunity>),
    ("Kase", run::<Kase>),
    ("Task", run::<Task>),
    ("Entry", run::<Entry>),
    ("User", run::<User>),
    ("Team", run::<Team>),
    ("Pipeline", run::<Pipeline>),
    ("Milestone", run::<Milestone>),
    ("LostReason", run::<LostReason>),
    ("Board", run::<Board>),
    ("Stage", run::<Stage>),
    ("ActivityType", run::<ActivityType>),
    ("TaskCategory", run::<TaskCategory>),
    ("FieldDefinition", run::<FieldDefinition>),
    ("Tag", run::<Tag>),
    ("PersonTitle", run::<PersonTitle>),
    ("Country", run::<Country>),
    ("Currency", run::<Currency>),
    ("Site", run::<Site>),
    ("Job", run::<Job>),
    // Shapes nested in the records above, decoded on their own too.
    ("NestedRef", run::<NestedRef>),
    ("NestedUser", run::<NestedUser>),
    ("NestedParty", run::<NestedParty>),
    ("Money", run::<Money>),
    ("FieldValue", run::<FieldValue>),
    ("TagRef", run::<TagRef>),
    ("Attachment", run::<Attachment>),
    ("Participant", run::<Participant>),
    ("EmailAddress", run::<EmailAddress>),
    ("PhoneNumber", run::<PhoneNumber>),
    ("Address", run::<Address>),
    ("Website", run::<Website>),
    ("TeamMembership", run::<TeamMembership>),
];

fn decoder(name: &str) -> Decoder {
    DECODERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .unwrap_or_else(|| panic!("no decoder for `{name}`: add it to DECODERS"))
}

/// (type name, one record) for every record of every fixture.
fn fixture_records() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/capsule");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let mut out = Vec::new();
    for entry in read("index.json").as_array().unwrap() {
        let body = read(entry["file"].as_str().unwrap());
        let ty = entry["type"].as_str().unwrap().to_owned();
        match (entry["kind"].as_str().unwrap(), entry["key"].as_str()) {
            ("list", Some(key)) => {
                for item in body[key].as_array().into_iter().flatten() {
                    out.push((ty.clone(), item.clone()));
                }
            }
            ("single", Some(key)) => out.push((ty, body[key].clone())),
            _ => out.push((ty, body)),
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every node of `v` by its path, the root first.
fn paths(v: &Value) -> Vec<Vec<Seg>> {
    fn walk(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        out.push(here.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    here.push(Seg::Key(k.clone()));
                    walk(child, here, out);
                    here.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    here.push(Seg::Index(i));
                    walk(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn node<'a>(v: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// serde_path_to_error's rendering (`a.b[2].c`, `.` for the root) back into segments.
fn parse_path(p: &str) -> Option<Vec<Seg>> {
    if p == "." {
        return Some(Vec::new());
    }
    let mut out = Vec::new();
    for part in p.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_owned()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            out.push(Seg::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn related(a: &[Seg], b: &[Seg]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// Random JSON up to a small depth; keys are plain words so paths parse back.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z0-9 .-]{0,8}".prop_map(Value::String),
        (-100_000i64..100_000).prop_map(|n| Value::String(n.to_string())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the node with random JSON.
    Replace(Value),
    /// Remove the node from its object (or array).
    Drop,
    /// Change the node's JSON type: a number to its string, a string to a number, ...
    SwapType,
    /// Add a key with random JSON to an object node (an undocumented field).
    AddKey(String, Value),
}

fn any_mutation() -> impl Strategy<Value = (prop::sample::Index, Mutation)> {
    (
        any::<prop::sample::Index>(),
        prop_oneof![
            any_json().prop_map(Mutation::Replace),
            Just(Mutation::Drop),
            Just(Mutation::SwapType),
            ("[a-zA-Z]{1,8}", any_json()).prop_map(|(k, v)| Mutation::AddKey(k, v)),
        ],
    )
}

fn swap_type(v: &Value) -> Value {
    match v {
        Value::Null => json!(false),
        Value::Bool(b) => json!(b.to_string()),
        Value::Number(n) => json!(n.to_string()),
        Value::String(s) => json!(s.len()),
        Value::Array(a) => json!({ "items": a }),
        Value::Object(o) => json!([o]),
    }
}

/// Applies the mutation and returns the path it touched (the parent for a drop).
fn apply(v: &mut Value, at: prop::sample::Index, m: &Mutation) -> Vec<Seg> {
    let all = paths(v);
    let path = at.get(&all).clone();
    match m {
        Mutation::Replace(new) => {
            if let Some(n) = node_mut(v, &path) {
                *n = new.clone();
            }
            path
        }
        Mutation::SwapType => {
            if let Some(n) = node_mut(v, &path) {
                *n = swap_type(n);
            }
            path
        }
        Mutation::Drop => {
            let Some((last, parent)) = path.split_last() else {
                return path;
            };
            if let Some(p) = node_mut(v, parent) {
                match (p, last) {
                    (Value::Object(m), Seg::Key(k)) => {
                        m.remove(k);
                    }
                    (Value::Array(a), Seg::Index(i)) if *i < a.len() => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
            parent.to_vec()
        }
        Mutation::AddKey(k, new) => {
            if let Some(Value::Object(m)) = node_mut(v, &path) {
                m.insert(k.clone(), new.clone());
                let mut p = path.clone();
                p.push(Seg::Key(k.clone()));
                return p;
            }
            path
        }
    }
}

const MUTATION_CASES: u32 = 4096;
const RANDOM_CASES_PER_DECODER: u32 = 256;

#[test]
fn mutated_fixtures_never_panic_and_errors_name_a_path_at_a_mutation() {
    let records = fixture_records();
    assert!(records.len() > 30, "{} fixture records", records.len());
    let mut runner = TestRunner::new(Config {
        cases: MUTATION_CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = std::cell::Cell::new(0u32);
    let errors = std::cell::Cell::new(0u32);
    let strategy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(any_mutation(), 1..4),
    );
    runner
        .run(&strategy, |(pick, mutations)| {
            cases.set(cases.get() + 1);
            let (ty, original) = pick.get(&records);
            let mut v = original.clone();
            let touched: Vec<Vec<Seg>> = mutations
                .iter()
                .map(|(at, m)| apply(&mut v, *at, m))
                .collect();
            let Err(e) = decoder(ty)(&v) else {
                return Ok(());
            };
            errors.set(errors.get() + 1);
            let path = parse_path(&e.path).ok_or_else(|| {
                TestCaseError::fail(format!("{ty}: unparsable path `{}` ({e})", e.path))
            })?;
            prop_assert!(
                node(&v, &path).is_some(),
                "{ty}: error path `{}` is not in the input: {e}\n{v}",
                e.path
            );
            // Only a mutation of the record itself may be blamed on the record as a whole.
            prop_assert!(
                !path.is_empty() || touched.iter().any(Vec::is_empty),
                "{ty}: error blamed on the whole record for {touched:?}: {e}\n{v}"
            );
            prop_assert!(
                touched.iter().any(|t| related(t, &path)),
                "{ty}: error at `{}` away from every mutation {touched:?}: {e}\n{v}",
                e.path
            );
            Ok(())
        })
        .unwrap();
    let (cases, errors) = (cases.get(), errors.get());
    assert_eq!(cases, MUTATION_CASES);
    // The mutations must actually reach the decoders' checks.
    assert!(
        errors > MUTATION_CASES / 20,
        "only {errors} mutations failed to decode"
    );
    println!("{cases} mutated fixture cases, {errors} decode errors, all with a path");
}

#[test]
fn random_json_never_panics_any_decoder_and_errors_name_a_path() {
    let mut total = 0u32;
    for (name, decode) in DECODERS {
        let mut runner = TestRunner::new(Config {
            cases: RANDOM_CASES_PER_DECODER,
            failure_persistence: None,
            ..Config::default()
        });
        let cases = std::cell::Cell::new(0u32);
        runner
            .run(&any_json(), |v| {
                cases.set(cases.get() + 1);
                if let Err(e) = decode(&v) {
                    let path = parse_path(&e.path).ok_or_else(|| {
                        TestCaseError::fail(format!("{name}: unparsable path `{}`", e.path))
                    })?;
                    prop_assert!(
                        node(&v, &path).is_some(),
                        "{name}: error path `{}` is not in the input: {e}\n{v}",
                        e.path
                    );
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(cases.get(), RANDOM_CASES_PER_DECODER, "{name}");
        total += cases.get();
    }
    println!("{total} random JSON cases over {} decoders", DECODERS.len());
}

/// Every number of every fixture turned into a string still decodes: no numeric wire field
/// insists on a JSON number.
#[test]
fn every_number_of_every_fixture_may_come_as_a_string() {
    fn stringify(v: &mut Value) {
        match v {
            Value::Number(n) => *v = Value::String(n.to_string()),
            Value::Array(a) => a.iter_mut().for_each(stringify),
            Value::Object(m) => m.values_mut().for_each(stringify),
            _ => {}
        }
    }
    let mut numbers = 0;
    for (ty, mut v) in fixture_records() {
        numbers += paths(&v)
            .iter()
            .filter(|p| node(&v, p).is_some_and(Value::is_number))
            .count();
        stringify(&mut v);
        decoder(&ty)(&v).unwrap_or_else(|e| panic!("{ty}: {e}"));
    }
    assert!(numbers > 100, "{numbers} numbers");
}
