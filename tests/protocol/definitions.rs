//! The mirror check between the code and the deployed definitions: the
//! `functions/*` folders are exactly the functions the handler serves, and
//! every `function.json` says what the code expects (trigger, binding
//! names, queues, schedules, methods). Also host.json and the settings
//! example.
use std::collections::BTreeSet;

use guest_sync::protocol::{
    FunctionName, TriggerKind, FUNCTION_NAMES, HTTP_OUTPUT_BINDING, QUARANTINE_OUTPUT_BINDING,
    QUARANTINE_QUEUE, QUEUE_OUTPUT_BINDING, STORAGE_CONNECTION, WORK_QUEUE,
};
use guest_sync::settings::SETTING_NAMES;

use super::*;

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn valid_folder_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && name != "host"
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn valid_binding_name(name: &str) -> bool {
    let mut chars = name.chars();
    name == "$return"
        || (name.len() <= 128
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric()))
}

/// The folders under `functions/` are exactly the handler's functions, and
/// each has a valid name.
#[test]
fn function_folders_equal_the_served_functions() {
    let folders: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    let served: BTreeSet<String> = FUNCTION_NAMES.iter().map(|s| s.to_string()).collect();
    assert_eq!(folders, served);
    for name in &folders {
        assert!(
            valid_folder_name(name),
            "invalid function folder name {name:?}"
        );
    }
}

/// Every function.json parses, uses valid binding names, and declares the
/// trigger, queue, schedule and outputs the code expects.
#[test]
fn every_function_json_matches_what_the_handler_expects() {
    for function in FunctionName::ALL {
        let path = repo_root()
            .join("functions")
            .join(function.as_str())
            .join("function.json");
        let def = read_json(&path);
        let bindings = def["bindings"]
            .as_array()
            .unwrap_or_else(|| panic!("{function}: no bindings array"));
        for b in bindings {
            let name = b["name"].as_str().unwrap_or_default();
            assert!(
                valid_binding_name(name),
                "{function}: invalid binding name {name:?}"
            );
            assert!(
                matches!(b["direction"].as_str(), Some("in" | "out")),
                "{function}: {b}"
            );
        }
        let triggers: Vec<&Value> = bindings
            .iter()
            .filter(|b| b["type"].as_str().is_some_and(|t| t.ends_with("Trigger")))
            .collect();
        assert_eq!(triggers.len(), 1, "{function}: exactly one trigger");
        let trigger = triggers[0];
        let kind = function.trigger();
        assert_eq!(trigger["type"], kind.binding_type(), "{function}");
        assert_eq!(trigger["name"], kind.binding_name(), "{function}");
        assert_eq!(trigger["direction"], "in", "{function}");
        match kind {
            TriggerKind::Timer => {
                let setting = function.schedule_setting().unwrap();
                assert_eq!(trigger["schedule"], format!("%{setting}%"), "{function}");
                assert!(SETTING_NAMES.contains(&setting));
            }
            TriggerKind::Queue => {
                assert_eq!(
                    trigger["queueName"],
                    function.trigger_queue().unwrap(),
                    "{function}"
                );
                assert_eq!(trigger["connection"], STORAGE_CONNECTION, "{function}");
            }
            TriggerKind::Http => {
                assert_eq!(trigger["authLevel"], "function", "{function}");
                assert_eq!(
                    trigger["methods"],
                    json!([function.http_method().unwrap()]),
                    "{function}"
                );
            }
        }
        let outputs: Vec<&Value> = bindings
            .iter()
            .filter(|b| b["direction"] == "out")
            .collect();
        let mut want_outputs = 0;
        if function.has_queue_output() {
            want_outputs += 1;
            let q = outputs
                .iter()
                .find(|b| b["name"] == QUEUE_OUTPUT_BINDING)
                .unwrap_or_else(|| panic!("{function}: no {QUEUE_OUTPUT_BINDING} output"));
            assert_eq!(q["type"], "queue");
            assert_eq!(q["queueName"], WORK_QUEUE);
            assert_eq!(q["connection"], STORAGE_CONNECTION);
        }
        if function.has_quarantine_output() {
            want_outputs += 1;
            let q = outputs
                .iter()
                .find(|b| b["name"] == QUARANTINE_OUTPUT_BINDING)
                .unwrap_or_else(|| panic!("{function}: no {QUARANTINE_OUTPUT_BINDING} output"));
            assert_eq!(q["type"], "queue");
            assert_eq!(q["queueName"], QUARANTINE_QUEUE);
            assert_eq!(q["connection"], STORAGE_CONNECTION);
        }
        if kind == TriggerKind::Http {
            want_outputs += 1;
            let res = outputs
                .iter()
                .find(|b| b["name"] == HTTP_OUTPUT_BINDING)
                .unwrap_or_else(|| panic!("{function}: no {HTTP_OUTPUT_BINDING} output"));
            assert_eq!(res["type"], "http");
        }
        assert_eq!(
            outputs.len(),
            want_outputs,
            "{function}: unexpected outputs"
        );
    }
}

/// host.json names the executable exactly `handler` (the only file publish
/// makes executable), uses the v4 extension bundle and keeps the function
/// timeout within Consumption's 10 minutes, above the job budget.
#[test]
fn host_json_points_at_the_handler_binary() {
    let host = read_json(&repo_root().join("host.json"));
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], false);
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    assert_eq!(host["extensionBundle"]["version"], "[4.*, 5.0.0)");
    assert_eq!(host["functionTimeout"], "00:10:00");
    let queues = &host["extensions"]["queues"];
    assert!(queues["batchSize"].as_u64().unwrap() <= 32);
    assert!(queues["maxDequeueCount"].as_u64().unwrap() >= 1);
}

/// The local settings example carries every setting the handler reads,
/// plus the host's own, so a copy is a complete starting point.
#[test]
fn local_settings_example_lists_every_setting() {
    let example = read_json(&repo_root().join("local.settings.example.json"));
    let values = example["Values"].as_object().unwrap();
    for name in SETTING_NAMES {
        assert!(
            values.contains_key(*name),
            "local.settings.example.json lacks {name}"
        );
    }
    assert_eq!(values["FUNCTIONS_WORKER_RUNTIME"], "custom");
    assert_eq!(values["AzureWebJobsStorage"], "UseDevelopmentStorage=true");
    assert_eq!(
        values["AzureFunctionsJobHost__customHandler__description__defaultExecutablePath"],
        "target/debug/handler"
    );
}
