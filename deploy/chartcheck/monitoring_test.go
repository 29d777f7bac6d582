package chartcheck

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrometheusRuleMatchesAlertsFile checks that the PrometheusRule
// carries the rules file's groups unchanged.
func TestPrometheusRuleMatchesAlertsFile(t *testing.T) {
	var file map[string]any
	readYAML(t, "../prometheus/alerts.yaml", &file)
	d := decode(t, render(t, allFeatures))
	rules := d.custom["PrometheusRule"]
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules with every feature on, want 1", len(rules))
	}
	got := rules[0]["spec"].(map[string]any)["groups"]
	if !reflect.DeepEqual(got, file["groups"]) {
		t.Errorf("PrometheusRule groups differ from ../prometheus/alerts.yaml:\n%s\nvs\n%s", toYAML(t, got), toYAML(t, file["groups"]))
	}
	for _, g := range file["groups"].([]any) {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			labels, _ := rule["labels"].(map[string]any)
			ann, _ := rule["annotations"].(map[string]any)
			if labels["severity"] == nil || ann["summary"] == nil || ann["description"] == nil || ann["runbook"] == nil {
				t.Errorf("alert %v: needs a severity label and summary, description and runbook annotations", rule["alert"])
			}
		}
	}
}

func toYAML(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDashboard checks the dashboard's shape and that the chart ships it
// unchanged.
func TestDashboard(t *testing.T) {
	raw := mustRead(t, "../grafana/hookstream.json")
	var dash struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || dash.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q title %q schemaVersion %d", dash.UID, dash.Title, dash.SchemaVersion)
	}
	hasDS := false
	for _, v := range dash.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Error("dashboard has no Prometheus datasource variable named datasource")
	}
	queries := 0
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if !strings.Contains(q.Expr, `job=~"$job"`) {
				t.Errorf("panel %q: query %q does not filter on $job", p.Title, q.Expr)
			}
		}
	}
	if queries < 20 {
		t.Errorf("dashboard has %d queries", queries)
	}

	d := decode(t, render(t, allFeatures))
	if len(d.configMaps) != 1 {
		t.Fatalf("%d ConfigMaps with every feature on, want the dashboard's", len(d.configMaps))
	}
	cm := d.configMaps[0]
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard=1", cm.Labels)
	}
	if got := cm.Data["hookstream.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(raw)) {
		t.Error("dashboard ConfigMap differs from ../grafana/hookstream.json")
	}
}

// TestGeneratedSecret checks the Secret made without existingSecret: a
// hook before the migration Job, holding a usable key and token under the
// keys the pods read.
func TestGeneratedSecret(t *testing.T) {
	d := decode(t, render(t))
	if len(d.secrets) != 1 {
		t.Fatalf("%d Secrets by default, want 1", len(d.secrets))
	}
	s := d.secrets[0]
	if s.Annotations["helm.sh/hook"] != "pre-install,pre-upgrade" {
		t.Errorf("Secret hook %q: the migration hook needs it first", s.Annotations["helm.sh/hook"])
	}
	if s.Annotations["helm.sh/hook-weight"] >= d.jobs[0].Annotations["helm.sh/hook-weight"] &&
		!strings.HasPrefix(s.Annotations["helm.sh/hook-weight"], "-") {
		t.Errorf("Secret hook weight %q is not below the Job's %q", s.Annotations["helm.sh/hook-weight"], d.jobs[0].Annotations["helm.sh/hook-weight"])
	}
	key, err := base64.StdEncoding.DecodeString(string(s.Data["secret-key"]))
	if err != nil || len(key) != 32 {
		t.Errorf("secret-key is not 32 bytes in base64 (%d bytes, %v)", len(key), err)
	}
	if len(s.Data["admin-token"]) < 32 {
		t.Errorf("admin-token %d bytes", len(s.Data["admin-token"]))
	}
	c := d.deployments["api"].Spec.Template.Spec.Containers[0]
	for name, key := range map[string]string{"HOOKSTREAM_DATABASE_URL": "database-url", "HOOKSTREAM_SECRET_KEY": "secret-key", "HOOKSTREAM_ADMIN_TOKEN": "admin-token"} {
		if got, want := envValue(c.Env, name), "secret:"+s.Name+"/"+key; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
		if _, ok := s.Data[key]; !ok {
			t.Errorf("Secret has no key %s", key)
		}
	}
	if all := decode(t, render(t, allFeatures)); len(all.secrets) != 0 {
		t.Errorf("%d Secrets rendered with existingSecret set", len(all.secrets))
	}
}

// TestScaledObject checks the KEDA triggers name the deliver stages' groups
// and topics (the fast and the bulk lane) as the binary derives them from
// the topic prefix.
func TestScaledObject(t *testing.T) {
	d := decode(t, render(t, allFeatures))
	sos := d.custom["ScaledObject"]
	if len(sos) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(sos))
	}
	trigs := sos[0]["spec"].(map[string]any)["triggers"].([]any)
	if len(trigs) != 2 {
		t.Fatalf("%d triggers, want 2 (the fast and the bulk lane)", len(trigs))
	}
	for i, lane := range []struct{ group, topic string }{
		{"prod.hooks-deliver", "prod.hooks.deliveries"},
		{"prod.hooks-deliver-bulk", "prod.hooks.deliveries.bulk"},
	} {
		trig := trigs[i].(map[string]any)
		meta := trig["metadata"].(map[string]any)
		want := map[string]any{
			"bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092",
			"consumerGroup":    lane.group,
			"topic":            lane.topic,
			"lagThreshold":     "500",
		}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("kafka trigger %d %s = %v, want %v", i, k, meta[k], v)
			}
		}
		if trig["type"] != "kafka" {
			t.Errorf("trigger %d type %v", i, trig["type"])
		}
	}
	if dep := d.deployments["deliver"]; dep.Spec.Replicas != nil {
		t.Error("deliver Deployment sets replicas although KEDA scales it")
	}
}
