// Validates rendered Kubernetes objects against the API schemas of
// kubernetes-models 4.x (OpenAPI of the Kubernetes release it was built from).
// stdin: a JSON array of objects.  stdout: one line per object,
// "ok KIND/NAME" or "invalid KIND/NAME: errors"; exit 1 if any is invalid.
"use strict";
const fs = require("fs");

// Kinds kubernetes-models has no schema for: reported "skip KIND/NAME", not
// "ok"; the tests check these objects' shape themselves.
const SKIP = {
  "gateway.networking.k8s.io/v1alpha2 TCPRoute":
    "Gateway API (a CRD, not in kubernetes-models); test_render.py checks its shape",
};

const objects = JSON.parse(fs.readFileSync(0, "utf8"));
let bad = 0;
for (const obj of objects) {
  const label = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
  const skip = SKIP[`${obj.apiVersion} ${obj.kind}`];
  if (skip) {
    console.log(`skip ${label}: ${skip}`);
    continue;
  }
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const module = group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
  let Model;
  try {
    Model = require(module)[obj.kind];
  } catch (e) {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    console.log(`invalid ${label}: no schema for apiVersion ${obj.apiVersion} kind ${obj.kind}`);
    bad++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`ok ${label}`);
  } catch (e) {
    console.log(`invalid ${label}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
