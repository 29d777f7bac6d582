package chartcheck

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"

	corev1 "k8s.io/api/core/v1"
)

const configFile = "../../cmd/hookstream/config.go"

// setByChart are the variables the chart sets itself rather than from
// `config`: per Deployment, from the pod, from containerPort, or from the
// Secret.
var setByChart = []string{
	"HOOKSTREAM_ROLES", "HOOKSTREAM_INSTANCE_ID", "HOOKSTREAM_HTTP_ADDR", "HOOKSTREAM_METRICS_ADDR",
	"HOOKSTREAM_DATABASE_URL", "HOOKSTREAM_SECRET_KEY", "HOOKSTREAM_ADMIN_TOKEN",
	"HOOKSTREAM_KAFKA_SASL_PASSWORD",
}

// devOnly are the variables of `hookstream dev` alone (the embedded Kafka),
// which no pod of the chart runs.
var devOnly = []string{"HOOKSTREAM_DEV_KAFKA_PORT"}

// configEnv reads the HOOKSTREAM_* names of the Config struct's `env` tags.
func configEnv(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), configFile, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Config" {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			t.Fatalf("%s: Config is not a struct", configFile)
		}
		found = true
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue
			}
			tag, err := strconv.Unquote(field.Tag.Value)
			if err != nil {
				t.Fatal(err)
			}
			env, ok := reflect.StructTag(tag).Lookup("env")
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(env, ",")
			names = append(names, "HOOKSTREAM_"+strings.TrimSpace(name))
		}
		return false
	})
	if !found || len(names) == 0 {
		t.Fatalf("%s: no Config struct with env tags", configFile)
	}
	sort.Strings(names)
	return names
}

// envName is the variable the chart renders for a config key:
// kafkaBrokers → HOOKSTREAM_KAFKA_BROKERS.
func envName(key string) string {
	var b strings.Builder
	b.WriteString("HOOKSTREAM_")
	for i, r := range key {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// renderedEnv is every HOOKSTREAM_* name set in a container of a rendering.
func renderedEnv(t *testing.T, files ...string) map[string][]string {
	t.Helper()
	d := decode(t, render(t, files...))
	seen := map[string][]string{}
	add := func(owner string, cs []corev1.Container) {
		for _, c := range cs {
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "HOOKSTREAM_") {
					seen[e.Name] = append(seen[e.Name], owner)
				}
			}
		}
	}
	for _, dep := range d.deployments {
		add("Deployment "+dep.Name, dep.Spec.Template.Spec.Containers)
	}
	for _, job := range d.jobs {
		add("Job "+job.Name, job.Spec.Template.Spec.Containers)
	}
	return seen
}

// TestEnvMatchesConfig keeps the chart and the binary's Config from
// drifting: the chart can set every Config variable, and sets no other.
func TestEnvMatchesConfig(t *testing.T) {
	want := slices.DeleteFunc(configEnv(t), func(name string) bool { return slices.Contains(devOnly, name) })

	var values struct {
		Config map[string]any `json:"config"`
	}
	readYAML(t, chartDir+"/values.yaml", &values)
	var keys []string
	for k := range values.Config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fromValues := map[string]bool{}
	for _, k := range keys {
		name := envName(k)
		fromValues[name] = true
		if !slices.Contains(want, name) {
			t.Errorf("values.yaml config.%s renders %s, which Config in %s does not read", k, name, configFile)
		}
		if slices.Contains(setByChart, name) {
			t.Errorf("values.yaml config.%s renders %s, which the chart sets itself", k, name)
		}
	}
	for _, name := range want {
		if !fromValues[name] && !slices.Contains(setByChart, name) {
			t.Errorf("%s (Config in %s) has no key under config in values.yaml: add it there, to values.schema.json, the chart README and ci/all-features.yaml", name, configFile)
		}
	}

	var schema struct {
		Properties struct {
			Config struct {
				Properties map[string]any `json:"properties"`
			} `json:"config"`
		} `json:"properties"`
	}
	readYAML(t, chartDir+"/values.schema.json", &schema)
	var schemaKeys []string
	for k := range schema.Properties.Config.Properties {
		schemaKeys = append(schemaKeys, k)
	}
	sort.Strings(schemaKeys)
	if !slices.Equal(schemaKeys, keys) {
		t.Errorf("values.schema.json config keys %v, values.yaml config keys %v", schemaKeys, keys)
	}

	// Every variable is rendered when every key is set; nothing unknown is
	// rendered with any value set.
	all := renderedEnv(t, allFeatures)
	for _, name := range want {
		if _, ok := all[name]; !ok {
			t.Errorf("%s is not rendered with %s: set every config key there", name, allFeatures)
		}
	}
	for _, vs := range valueSets {
		for name, owners := range renderedEnv(t, vs.files...) {
			if !slices.Contains(want, name) {
				t.Errorf("%s: %s sets %s, which Config in %s does not read", vs.name, owners[0], name, configFile)
			}
		}
	}
}

// TestConfigValuesRendered checks how values become env strings: lists
// joined, whole numbers without exponent, empty values left out.
func TestConfigValuesRendered(t *testing.T) {
	d := decode(t, render(t, allFeatures))
	c := d.deployments["deliver"].Spec.Template.Spec.Containers[0]
	for name, want := range map[string]string{
		"HOOKSTREAM_KAFKA_BROKERS":          "kafka-0.kafka:9092,kafka-1.kafka:9092",
		"HOOKSTREAM_MAX_EVENT_BYTES":        "1048576",
		"HOOKSTREAM_DISABLE_AFTER_FAILURES": "0",
		"HOOKSTREAM_RETRY_JITTER":           "0.1",
		"HOOKSTREAM_TOPIC_REPLICATION":      "3",
		"HOOKSTREAM_HTTP_ADDR":              ":9090",
		"HOOKSTREAM_METRICS_ADDR":           ":9464",
		"HOOKSTREAM_DATABASE_URL":           "secret:hookstream-credentials/url",
		"HOOKSTREAM_SECRET_KEY":             "secret:hookstream-credentials/key",
		"HOOKSTREAM_ADMIN_TOKEN":            "secret:hookstream-credentials/token",
	} {
		if got := envValue(c.Env, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	// config.sources, a list of objects, as the JSON array the binary reads.
	var sources []struct {
		ID     string `json:"id"`
		Tenant struct {
			From, Header string
		} `json:"tenant"`
		TopicPattern string `json:"topic_pattern"`
	}
	if err := json.Unmarshal([]byte(envValue(c.Env, "HOOKSTREAM_SOURCES")), &sources); err != nil || len(sources) != 2 ||
		sources[0].ID != "orders" || sources[0].Tenant.Header != "x-tenant" || sources[1].TopicPattern != `audit\..*` {
		t.Errorf("HOOKSTREAM_SOURCES = %s (%v), want config.sources as JSON", envValue(c.Env, "HOOKSTREAM_SOURCES"), err)
	}
	d = decode(t, render(t))
	for role, dep := range d.deployments {
		c := dep.Spec.Template.Spec.Containers[0]
		var names []string
		for _, e := range c.Env {
			names = append(names, e.Name)
		}
		want := []string{"HOOKSTREAM_ROLES", "HOOKSTREAM_INSTANCE_ID", "HOOKSTREAM_HTTP_ADDR", "HOOKSTREAM_METRICS_ADDR",
			"HOOKSTREAM_DATABASE_URL", "HOOKSTREAM_SECRET_KEY", "HOOKSTREAM_ADMIN_TOKEN", "HOOKSTREAM_KAFKA_SASL_PASSWORD"}
		if role == "api" {
			// The console's live charts draw every pod behind the
			// headless metrics Service.
			want = slices.Insert(want, 4, "HOOKSTREAM_CONSOLE_PEERS")
			peers := envValue(c.Env, "HOOKSTREAM_CONSOLE_PEERS")
			host, port, _ := strings.Cut(peers, ":")
			name, _, _ := strings.Cut(host, ".")
			found := false
			for _, svc := range d.services {
				found = found || svc.Name == name && svc.Spec.ClusterIP == "None" && host == name+"."+namespace+".svc" &&
					port == strconv.Itoa(int(svc.Spec.Ports[0].Port)) && svc.Spec.Selector["hookstream.io/serves-metrics"] == "true"
			}
			if !found {
				t.Errorf("HOOKSTREAM_CONSOLE_PEERS = %q, want the headless metrics Service's name and port", peers)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s: default env %v, want %v (empty config values are left to the binary)", role, names, want)
		}
	}
}

// TestValuesDocumented checks that the chart README names every value.
func TestValuesDocumented(t *testing.T) {
	var values map[string]any
	readYAML(t, chartDir+"/values.yaml", &values)
	readme := string(mustRead(t, chartDir+"/README.md"))
	for _, path := range leafPaths("", values) {
		doc := path
		for _, role := range roles {
			doc = strings.Replace(doc, "roles."+role+".", "roles.<role>.", 1)
		}
		if !strings.Contains(readme, "`"+doc+"`") {
			t.Errorf("chart README does not list `%s`", doc)
		}
	}
}

// opaqueValues are Kubernetes objects the README documents whole.
var opaqueValues = []string{"podSecurityContext", "securityContext", "livenessProbe", "readinessProbe", "metrics.dashboard.labels"}

// leafPaths lists the dotted paths of values, stopping at non-maps, empty
// maps and opaque values.
func leafPaths(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok || (len(m) == 0 && prefix != "") || slices.Contains(opaqueValues, prefix) {
		return []string{prefix}
	}
	var out []string
	for k, child := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		out = append(out, leafPaths(p, child)...)
	}
	sort.Strings(out)
	return out
}
