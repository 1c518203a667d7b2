/*
 * test_kube_objects.c - ws-gateway-kube's objects: the StatefulSet made
 * from a template, the Secrets, and what status and list read from the
 * API's JSON (plugins/gateway/kube/objects.c).
 */
#include "unit.h"

#include <stdlib.h>

#include "kube.h"

static const cJSON *get(const cJSON *obj, const char *path) {
	char key[128];
	const char *p = path;

	while (obj != NULL && *p) {
		size_t n = strcspn(p, ".");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		obj = cJSON_IsArray(obj) ? cJSON_GetArrayItem(obj, atoi(key))
			: cJSON_GetObjectItemCaseSensitive(obj, key);
		p += n + (p[n] == '.');
	}
	return obj;
}

static const char *str(const cJSON *obj, const char *path) {
	const cJSON *v = get(obj, path);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_substitution_replaces_every_placeholder(void) {
	char *s = kube_substitute("__OBJECT__/__NAME__ x__NAME__x __OBJ__ __NAME_ __OBJECT__",
		"ws-alice-dev", "alice-dev");
	CHECK_STR(s, "ws-alice-dev/alice-dev xalice-devx __OBJ__ __NAME_ ws-alice-dev");
	free(s);
	s = kube_substitute("", "o", "n");
	CHECK_STR(s, "");
	free(s);
}

static const char *template_text =
	"{\"apiVersion\":\"apps/v1\",\"kind\":\"StatefulSet\","
	"\"metadata\":{\"name\":\"x\",\"namespace\":\"elsewhere\",\"resourceVersion\":\"7\","
	"\"uid\":\"u-1\",\"labels\":{\"app\":\"ws\",\"ssh-workspace/workspace\":\"not-this\","
	"\"ssh-workspace/gateway\":\"other\"}},"
	"\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"w\":\"__NAME__\"}},"
	"\"template\":{\"metadata\":{\"labels\":{\"w\":\"__NAME__\"}},\"spec\":{\"containers\":["
	"{\"name\":\"workspace\",\"image\":\"i\",\"ports\":[{\"name\":\"ssh\",\"containerPort\":2022}]}],"
	"\"volumes\":[{\"name\":\"keys\",\"secret\":{\"secretName\":\"__OBJECT__-keys\"}}]}},"
	"\"volumeClaimTemplates\":[{\"metadata\":{\"name\":\"home\"},\"spec\":{}}]}}";

static void test_statefulset_from_template_is_named_labelled_and_stopped(void) {
	char why[256] = "";
	cJSON *sts = kube_statefulset(template_text, "ws-alice", "alice", "gw1", why, sizeof(why));

	CHECK(sts != NULL);
	CHECK_STR(why, "");
	CHECK_STR(str(sts, "metadata.name"), "ws-alice");
	CHECK(get(sts, "metadata.namespace") == NULL);
	CHECK(get(sts, "metadata.resourceVersion") == NULL);
	CHECK(get(sts, "metadata.uid") == NULL);
	CHECK(kube_replicas(sts) == 0);
	CHECK(cJSON_IsNumber(get(sts, "spec.replicas")));
	/* the three labels overwrite the template's, others stay */
	CHECK_STR(str(sts, "metadata.labels.ssh-workspace/gateway"), "gw1");
	CHECK_STR(str(sts, "metadata.labels.ssh-workspace/workspace"), "alice");
	CHECK_STR(cJSON_GetObjectItemCaseSensitive(get(sts, "metadata.labels"),
		"app.kubernetes.io/managed-by")->valuestring, "ws-gateway");
	CHECK_STR(str(sts, "metadata.labels.app"), "ws");
	CHECK_STR(str(sts, "spec.template.metadata.labels.ssh-workspace/gateway"), "gw1");
	CHECK_STR(str(sts, "spec.template.metadata.labels.w"), "alice");
	CHECK_STR(str(sts, "spec.selector.matchLabels.w"), "alice");
	CHECK_STR(str(sts, "spec.volumeClaimTemplates.0.metadata.labels.ssh-workspace/workspace"),
		"alice");
	CHECK_STR(str(sts, "spec.template.spec.volumes.0.secret.secretName"), "ws-alice-keys");
	CHECK(kube_is_ours(sts, "gw1"));
	CHECK(!kube_is_ours(sts, "gw2"));
	CHECK(kube_ssh_port(sts) == 2022);
	cJSON_Delete(sts);
}

static void test_a_template_that_is_not_a_statefulset_is_refused(void) {
	char why[256] = "";

	/* a repeated key: cJSON would read the first, the API server the last */
	CHECK(kube_statefulset("{\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"a\","
		"\"name\":\"b\"},\"spec\":{\"template\":{\"metadata\":{}}}}", "ws-a", "a", "g",
		why, sizeof(why)) == NULL);
	CHECK_STR(why, "the template repeats the key 'name'");
	CHECK(kube_statefulset("{\"kind\":\"StatefulSet\",\"metadata\":{},\"spec\":{\"template\":"
		"{\"metadata\":{}},\"volumeClaimTemplates\":[{\"spec\":{\"x\":1,\"x\":2}}]}}",
		"ws-a", "a", "g", why, sizeof(why)) == NULL);
	CHECK_STR(why, "the template repeats the key 'x'");
	CHECK(kube_statefulset("[1,2]", "ws-a", "a", "g", why, sizeof(why)) == NULL);
	CHECK_CONTAINS(why, "not a JSON object");
	CHECK(kube_statefulset("{\"kind\":\"Pod\",\"metadata\":{}}", "ws-a", "a", "g", why,
		sizeof(why)) == NULL);
	CHECK_CONTAINS(why, "not a StatefulSet");
	CHECK(kube_statefulset("{\"kind\":\"StatefulSet\",\"spec\":{\"template\":3}}", "ws-a", "a",
		"g", why, sizeof(why)) == NULL);
	CHECK_CONTAINS(why, "spec.template");
	CHECK(kube_statefulset("{\"kind\":\"StatefulSet\"", "ws-a", "a", "g", why,
		sizeof(why)) == NULL);
}

static void test_a_name_too_long_with_its_prefix_is_refused(void) {
	char out[128], why[256] = "", name[64];

	memset(name, 'a', 49);
	name[49] = '\0';
	CHECK(kube_object_name("ws-", name, out, sizeof(out), why, sizeof(why)) == 0);
	CHECK(strlen(out) == 52 && strncmp(out, "ws-aaa", 6) == 0);
	strcat(name, "b");
	CHECK(kube_object_name("ws-", name, out, sizeof(out), why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "workspace name 'aaaaaaaaaa");
	CHECK_CONTAINS(why, "b' is too long for Kubernetes (at most 49 characters with the "
		"prefix 'ws-')");
	CHECK(kube_object_name("team-", name, out, sizeof(out), why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "at most 47 characters with the prefix 'team-'");
}

static void test_secret_holds_base64_labels_and_owner(void) {
	const unsigned char data[] = "ssh-ed25519 AAAA k\n";
	cJSON *s = kube_secret("ws-bob", "keys", "authorized_keys", data, sizeof(data) - 1, "gw",
		"bob", "uid-42");

	CHECK_STR(str(s, "kind"), "Secret");
	CHECK_STR(str(s, "metadata.name"), "ws-bob-keys");
	CHECK_STR(str(s, "data.authorized_keys"), "c3NoLWVkMjU1MTkgQUFBQSBrCg==");
	CHECK_STR(str(s, "metadata.labels.ssh-workspace/gateway"), "gw");
	CHECK_STR(str(s, "metadata.labels.ssh-workspace/workspace"), "bob");
	CHECK_STR(str(s, "metadata.ownerReferences.0.uid"), "uid-42");
	CHECK_STR(str(s, "metadata.ownerReferences.0.kind"), "StatefulSet");
	CHECK_STR(str(s, "metadata.ownerReferences.0.name"), "ws-bob");
	CHECK(cJSON_IsFalse(get(s, "metadata.ownerReferences.0.controller")));
	CHECK(cJSON_IsFalse(get(s, "metadata.ownerReferences.0.blockOwnerDeletion")));
	cJSON_Delete(s);
}

static void test_base64_pads_every_length(void) {
	static const char *want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=" };
	size_t i;
	for (i = 0; i < 6; i++) {
		char *b = kube_base64((const unsigned char *)"fooba", i);
		CHECK_STR(b, want[i]);
		free(b);
	}
}

static void test_patch_tests_the_gateway_label_first(void) {
	cJSON *p = kube_patch_new("gw-1");
	kube_patch_add(p, "replace", "/spec/replicas", cJSON_CreateNumber(0));
	CHECK(cJSON_GetArraySize(p) == 2);
	CHECK_STR(str(p, "0.op"), "test");
	CHECK_STR(str(p, "0.path"), "/metadata/labels/ssh-workspace~1gateway");
	CHECK_STR(str(p, "0.value"), "gw-1");
	CHECK_STR(str(p, "1.op"), "replace");
	CHECK(get(p, "1.value") != NULL && get(p, "1.value")->valueint == 0);
	cJSON_Delete(p);
}

static cJSON *pod(const char *extra_meta, const char *ready, const char *ip) {
	char text[1024];
	snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"ws-a-0\"%s},\"status\":{%s%s%s"
		"\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\"},"
		"{\"type\":\"Ready\",\"status\":\"%s\"}]}}", extra_meta, ip ? "\"podIP\":\"" : "",
		ip ? ip : "", ip ? "\"," : "", ready);
	return cJSON_Parse(text);
}

static void test_pod_is_running_when_ready_with_an_ip_and_not_deleted(void) {
	char ip[64] = "";
	cJSON *p = pod("", "True", "10.1.2.3");

	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 1);
	CHECK_STR(ip, "10.1.2.3");
	cJSON_Delete(p);
	p = pod("", "True", "fd00::5");
	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 1);
	CHECK_STR(ip, "fd00::5");
	cJSON_Delete(p);
	p = pod(",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", "True", "10.1.2.3");
	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 0);
	cJSON_Delete(p);
	p = pod("", "False", "10.1.2.3");
	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 0);
	cJSON_Delete(p);
	p = pod("", "True", NULL);
	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 0);
	cJSON_Delete(p);
	/* an address is what the gateway will connect to: nothing else passes */
	p = pod("", "True", "10.0.0.1 -oProxy");
	CHECK(kube_pod_running(p, ip, sizeof(ip)) == 0);
	cJSON_Delete(p);
	CHECK(kube_pod_running(NULL, ip, sizeof(ip)) == 0);
}

static void test_ssh_port_is_the_workspace_containers_port_named_ssh(void) {
	cJSON *s = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":["
		"{\"name\":\"sidecar\",\"ports\":[{\"name\":\"ssh\",\"containerPort\":1}]},"
		"{\"name\":\"workspace\",\"ports\":[{\"name\":\"http\",\"containerPort\":80},"
		"{\"name\":\"ssh\",\"containerPort\":2200}]}]}}}}");
	CHECK(kube_ssh_port(s) == 2200);
	cJSON_Delete(s);
	s = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":["
		"{\"name\":\"sidecar\",\"ports\":[{\"name\":\"ssh\",\"containerPort\":1}]},"
		"{\"name\":\"workspace\"}]}}}}");
	CHECK(kube_ssh_port(s) == 2222);
	cJSON_Delete(s);
	s = cJSON_Parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":["
		"{\"name\":\"workspace\",\"ports\":[{\"name\":\"ssh\",\"containerPort\":70000}]}]}}}}");
	CHECK(kube_ssh_port(s) == 2222);
	cJSON_Delete(s);
}

static void test_replicas_default_to_one_when_absent(void) {
	cJSON *s = cJSON_Parse("{\"spec\":{}}");
	CHECK(kube_replicas(s) == 1);
	cJSON_Delete(s);
	s = cJSON_Parse("{\"spec\":{\"replicas\":0}}");
	CHECK(kube_replicas(s) == 0);
	cJSON_Delete(s);
	s = cJSON_Parse("{\"spec\":{\"replicas\":2}}");
	CHECK(kube_replicas(s) == 2);
	cJSON_Delete(s);
}

static void test_pod_why_names_the_waiting_reason_or_the_scheduler(void) {
	char why[300];
	cJSON *p = cJSON_Parse("{\"metadata\":{},\"status\":{\"phase\":\"Pending\","
		"\"containerStatuses\":[{\"name\":\"workspace\",\"state\":{\"waiting\":{"
		"\"reason\":\"ImagePullBackOff\",\"message\":\"Back-off pulling\\nimage x\"}}}]}}");

	kube_pod_why(p, why, sizeof(why));
	CHECK_STR(why, "ImagePullBackOff: Back-off pulling image x");
	cJSON_Delete(p);
	p = cJSON_Parse("{\"metadata\":{},\"status\":{\"phase\":\"Pending\",\"conditions\":["
		"{\"type\":\"PodScheduled\",\"status\":\"False\",\"message\":\"0/3 nodes are available\"}]}}");
	kube_pod_why(p, why, sizeof(why));
	CHECK_STR(why, "not scheduled: 0/3 nodes are available");
	cJSON_Delete(p);
	kube_pod_why(NULL, why, sizeof(why));
	CHECK_STR(why, "no pod");
}

struct seen {
	char text[512];
};

static void collect(void *arg, const char *name, int running) {
	struct seen *s = arg;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "%s %s;", name, running ? "running" : "stopped");
}

#define ITEM(obj, gw, ws, replicas) "{\"metadata\":{\"name\":\"" obj "\",\"labels\":{" \
	"\"ssh-workspace/gateway\":\"" gw "\",\"ssh-workspace/workspace\":\"" ws "\"}}," \
	"\"spec\":{" replicas "}}"

static void test_list_reports_only_ours_with_good_matching_names(void) {
	struct seen s = { "" };
	cJSON *l = cJSON_Parse("{\"kind\":\"StatefulSetList\",\"items\":["
		ITEM("ws-alice", "gw", "alice", "\"replicas\":1") ","
		ITEM("ws-bob", "gw", "bob", "\"replicas\":0") ","
		ITEM("ws-carol", "gw", "carol", "") ","
		ITEM("ws-dave", "other", "dave", "\"replicas\":1") ","
		ITEM("ws-Eve", "gw", "Eve", "\"replicas\":1") ","
		ITEM("ws-frank", "gw", "mallory", "\"replicas\":1") ","
		ITEM("grace", "gw", "grace", "\"replicas\":1") ","
		"{\"metadata\":{\"name\":\"ws-henry\",\"labels\":{\"ssh-workspace/gateway\":\"gw\"}}},"
		"17]}");

	CHECK(kube_list_items(l, "ws-", "gw", collect, &s) == 3);
	CHECK_STR(s.text, "alice running;bob stopped;carol running;");
	cJSON_Delete(l);
	l = cJSON_Parse("{\"items\":{}}");
	CHECK(kube_list_items(l, "ws-", "gw", collect, &s) == -1);
	cJSON_Delete(l);
}

static void test_label_values(void) {
	CHECK(kube_label_value_valid("gw"));
	CHECK(kube_label_value_valid("Gw.1_x-2"));
	CHECK(!kube_label_value_valid(""));
	CHECK(!kube_label_value_valid("-gw"));
	CHECK(!kube_label_value_valid("gw."));
	CHECK(!kube_label_value_valid("g w"));
	CHECK(!kube_label_value_valid("g/w"));
	CHECK(kube_label_value_valid("a23456789012345678901234567890123456789012345678901234567890123"));
	CHECK(!kube_label_value_valid("a234567890123456789012345678901234567890123456789012345678901234"));
}

UNIT_SUITE(kube_objects_tests) = {
	{ "kube: substitution replaces every placeholder", test_substitution_replaces_every_placeholder },
	{ "kube: the StatefulSet from a template is named, labelled and stopped",
		test_statefulset_from_template_is_named_labelled_and_stopped },
	{ "kube: a template that is not a StatefulSet is refused",
		test_a_template_that_is_not_a_statefulset_is_refused },
	{ "kube: a name too long with its prefix is refused",
		test_a_name_too_long_with_its_prefix_is_refused },
	{ "kube: a Secret holds base64, the labels and its owner",
		test_secret_holds_base64_labels_and_owner },
	{ "kube: base64 pads every length", test_base64_pads_every_length },
	{ "kube: a patch tests the gateway label first", test_patch_tests_the_gateway_label_first },
	{ "kube: a pod runs when Ready, with an IP, not being deleted",
		test_pod_is_running_when_ready_with_an_ip_and_not_deleted },
	{ "kube: the SSH port is the workspace container's port named ssh",
		test_ssh_port_is_the_workspace_containers_port_named_ssh },
	{ "kube: replicas default to one", test_replicas_default_to_one_when_absent },
	{ "kube: why a pod is not Ready", test_pod_why_names_the_waiting_reason_or_the_scheduler },
	{ "kube: list reports only ours, with good matching names",
		test_list_reports_only_ours_with_good_matching_names },
	{ "kube: label values", test_label_values },
	UNIT_END
};
