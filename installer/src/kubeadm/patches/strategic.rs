//! Strategic merge patch (k8s.io/apimachinery/pkg/util/strategicpatch) for the lists a Pod has:
//! lists with a patch merge key are merged item by item (and ordered as apimachinery orders
//! them), other lists are replaced, `null` deletes a key, and the `$patch: replace|delete`,
//! `$retainKeys` and `$deleteFromPrimitiveList/…` directives work; `$setElementOrder/…` is
//! accepted and ignored.

use serde_json::{Map, Value};

/// Which Go type's merge keys apply.
#[derive(Debug, Clone, Copy)]
pub(super) enum Schema {
    /// `v1.Pod` (and the Pod template of a Deployment).
    Pod,
    /// A type whose lists have no merge keys (`KubeletConfiguration`).
    None,
}

impl Schema {
    /// The `patchMergeKey` of list field `field` (core/v1 types.go).
    fn merge_key(self, field: &str) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Pod => match field {
                "containers"
                | "initContainers"
                | "ephemeralContainers"
                | "volumes"
                | "env"
                | "imagePullSecrets"
                | "resourceClaims"
                | "schedulingGates" => Some("name"),
                "volumeMounts" => Some("mountPath"),
                "volumeDevices" => Some("devicePath"),
                "ports" => Some("containerPort"),
                "hostAliases" => Some("ip"),
                "topologySpreadConstraints" => Some("topologyKey"),
                "ownerReferences" => Some("uid"),
                _ => None,
            },
        }
    }
}

/// Applies `patch` (a JSON object) to `doc`.
pub(super) fn merge(doc: Value, patch: &Value, schema: Schema) -> Result<Value, String> {
    let Value::Object(patch) = patch else { return Err("a strategic merge patch must be a JSON object".into()) };
    let original = match doc {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    merge_map(original, patch, schema).map(Value::Object)
}

fn merge_map(mut original: Map<String, Value>, patch: &Map<String, Value>, schema: Schema) -> Result<Map<String, Value>, String> {
    match patch.get("$patch").map(|d| d.as_str()) {
        None => {}
        Some(Some("replace")) => return Ok(without_directives(patch)),
        Some(Some("delete")) => return Ok(Map::new()),
        Some(other) => return Err(format!("unknown patch directive in map: {other:?}")),
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let keep: Vec<&str> = retain.as_array().ok_or("$retainKeys must be a list")?.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = value.as_array().ok_or("$deleteFromPrimitiveList must be a list")?;
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            original.remove(key);
            continue;
        }
        let merged = match (original.remove(key), value) {
            (Some(Value::Object(o)), Value::Object(p)) => Value::Object(merge_map(o, p, schema)?),
            (Some(Value::Array(o)), Value::Array(p)) => Value::Array(merge_list(key, o, p, schema)?),
            (None, Value::Object(p)) => Value::Object(merge_map(Map::new(), p, schema)?),
            (None, Value::Array(p)) => Value::Array(merge_list(key, Vec::new(), p, schema)?),
            (_, p) => p.clone(),
        };
        original.insert(key.clone(), merged);
    }
    Ok(original)
}

fn without_directives(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn merge_list(field: &str, original: Vec<Value>, patch: &[Value], schema: Schema) -> Result<Vec<Value>, String> {
    let is_directive = |item: &Value, directive: &str| item.get("$patch").and_then(Value::as_str) == Some(directive);
    if patch.iter().any(|item| is_directive(item, "replace")) {
        return Ok(patch.iter().filter(|item| !is_directive(item, "replace")).cloned().collect());
    }
    let Some(key) = schema.merge_key(field) else {
        return Ok(patch.to_vec());
    };
    let key_of = |item: &Value| -> Result<Value, String> {
        item.get(key).cloned().ok_or_else(|| format!("map: {item} does not contain declared merge key: {key}"))
    };
    // Deletions first (mergeSliceWithSpecialElements).
    let mut server = original;
    let mut items = Vec::new();
    for item in patch {
        if is_directive(item, "delete") {
            let gone = key_of(item)?;
            server.retain(|s| s.get(key) != Some(&gone));
        } else {
            items.push(item);
        }
    }
    let server_order: Vec<Value> = server.iter().filter_map(|s| s.get(key).cloned()).collect();
    let patch_order: Vec<Value> = items.iter().map(|item| key_of(item)).collect::<Result<_, _>>()?;
    // mergeSliceWithoutSpecialElements: merge into the matching item, else append.
    let mut merged = server;
    for item in &items {
        let Value::Object(patch_item) = item else { return Err(format!("{field}: list items must be objects")) };
        let wanted = key_of(item)?;
        match merged.iter().position(|m| m.get(key) == Some(&wanted)) {
            Some(i) => {
                let Value::Object(o) = std::mem::take(&mut merged[i]) else { return Err(format!("{field}: list items must be objects")) };
                merged[i] = Value::Object(merge_map(o, patch_item, schema)?);
            }
            None => merged.push(Value::Object(merge_map(Map::new(), patch_item, schema)?)),
        }
    }
    Ok(order(merged, key, &patch_order, &server_order))
}

/// `normalizeElementOrder` + `mergeSortedSlice`: items named by the patch in patch order,
/// server-only items in server order, interleaved by server position; an item new to the
/// server goes before the next server-only item.
fn order(merged: Vec<Value>, key: &str, patch_order: &[Value], server_order: &[Value]) -> Vec<Value> {
    let position = |list: &[Value], item: &Value| item.get(key).and_then(|k| list.iter().position(|x| x == k));
    let (mut from_patch, server_only): (Vec<Value>, Vec<Value>) = merged.into_iter().partition(|m| position(patch_order, m).is_some());
    from_patch.sort_by_key(|m| position(patch_order, m));
    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let (mut left, mut right) = (server_only.into_iter().peekable(), from_patch.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => match (position(server_order, l), position(server_order, r)) {
                (Some(li), Some(ri)) => li < ri,
                _ => false,
            },
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Schema, merge};

    fn pod() -> serde_json::Value {
        json!({"spec": {"containers": [{"name": "c", "image": "i", "command": ["a", "b"],
            "env": [{"name": "A", "value": "1"}],
            "volumeMounts": [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}]}],
            "volumes": [{"name": "a", "hostPath": {"path": "/a"}}, {"name": "b", "hostPath": {"path": "/b"}}]}})
    }

    #[test]
    fn merges_lists_by_key_and_replaces_others() {
        let patch = json!({"spec": {"containers": [{"name": "c", "command": ["x"], "env": [{"name": "B", "value": "2"}],
            "resources": {"requests": {"cpu": "1"}}}]}});
        let out = merge(pod(), &patch, Schema::Pod).unwrap();
        let c = &out["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["x"]));
        assert_eq!(c["image"], "i");
        // A new item goes before the remaining server-only items (mergeSortedSlice).
        assert_eq!(c["env"], json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]));
        assert_eq!(c["resources"]["requests"]["cpu"], "1");
    }

    #[test]
    fn orders_new_items_as_apimachinery() {
        let patch = json!({"spec": {"volumes": [{"name": "a", "hostPath": {"path": "/z"}}, {"name": "n", "hostPath": {"path": "/n"}}]}});
        let out = merge(pod(), &patch, Schema::Pod).unwrap();
        let names: Vec<&str> = out["spec"]["volumes"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["a", "n", "b"]);
        assert_eq!(out["spec"]["volumes"][0]["hostPath"]["path"], "/z");
    }

    #[test]
    fn honours_directives_and_nulls() {
        let patch = json!({"spec": {"containers": [{"name": "c", "image": null,
            "volumeMounts": [{"mountPath": "/a", "$patch": "delete"}]}],
            "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}});
        let out = merge(pod(), &patch, Schema::Pod).unwrap();
        let c = &out["spec"]["containers"][0];
        assert!(c.get("image").is_none());
        assert_eq!(c["volumeMounts"], json!([{"name": "b", "mountPath": "/b"}]));
        assert_eq!(out["spec"]["volumes"], json!([{"name": "only", "emptyDir": {}}]));
        let replace = json!({"spec": {"$patch": "replace", "hostNetwork": true}});
        assert_eq!(merge(pod(), &replace, Schema::Pod).unwrap()["spec"], json!({"hostNetwork": true}));
    }

    #[test]
    fn needs_the_merge_key() {
        let patch = json!({"spec": {"containers": [{"image": "x"}]}});
        assert!(merge(pod(), &patch, Schema::Pod).unwrap_err().contains("merge key: name"));
        // Without a schema the list is replaced.
        assert_eq!(merge(pod(), &patch, Schema::None).unwrap()["spec"]["containers"], json!([{"image": "x"}]));
    }
}
