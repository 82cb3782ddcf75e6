//! What the model pays on every turn, counted with its tokenizer (`o200k_base`): the catalogue
//! as a client receives it (compact `{name, description, inputSchema}` per tool) and the server
//! instructions. The targets are issue 10's; `cargo bench --bench context` prints the figures
//! and the result-side ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use capsule_mcp::{
    server::{INSTRUCTIONS, Registry, Selection},
    tools::catalogue::model_view,
};

fn count(text: &str) -> usize {
    static BPE: OnceLock<tiktoken_rs::CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().unwrap())
        .encode_with_special_tokens(text)
        .len()
}

fn per_tool(selection: &Selection) -> Vec<(String, usize)> {
    Registry::build(selection)
        .unwrap()
        .tools()
        .iter()
        .map(|t| (t.name.to_string(), count(&model_view(t))))
        .collect()
}

fn total(selection: &Selection) -> usize {
    per_tool(selection).iter().map(|(_, n)| n).sum()
}

#[test]
fn the_instructions_fit_in_150_tokens() {
    let n = count(INSTRUCTIONS);
    assert!(n <= 150, "instructions are {n} tokens");
}

#[test]
fn capsule_api_request_fits_in_200_tokens() {
    let tools = per_tool(&Selection::default());
    let (_, n) = tools
        .iter()
        .find(|(name, _)| name == "capsule_api_request")
        .unwrap();
    assert!(*n <= 200, "capsule_api_request is {n} tokens");
}

#[test]
#[ignore = "not met yet: 8,247 tokens (issue 10 target 5,000); see the bench"]
fn the_whole_catalogue_fits_in_5000_tokens() {
    let n = total(&Selection::default());
    assert!(n <= 5_000, "the catalogue is {n} tokens");
}

#[test]
#[ignore = "not met yet: 3,061 tokens (issue 10 target 2,000); see the bench"]
fn the_read_only_surface_fits_in_2000_tokens() {
    let n = total(&Selection {
        read_only: true,
        ..Default::default()
    });
    assert!(n <= 2_000, "the read-only surface is {n} tokens");
}

#[test]
#[ignore = "not met yet: the update/create tools of contacts, accounts, opportunities (519 max, 13 tools over)"]
fn no_tool_takes_more_than_250_tokens() {
    let over: Vec<_> = per_tool(&Selection::default())
        .into_iter()
        .filter(|(_, n)| *n > 250)
        .collect();
    assert!(over.is_empty(), "over 250 tokens: {over:?}");
}
