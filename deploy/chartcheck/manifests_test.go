package chartcheck

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// typed returns an empty value of the k8s.io/api type for a core kind, or
// nil for a custom resource.
func typed(apiVersion, kind string) (any, bool) {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, true
	case "v1/Service":
		return &corev1.Service{}, true
	case "v1/Secret":
		return &corev1.Secret{}, true
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "batch/v1/Job":
		return &batchv1.Job{}, true
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2/HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	}
	return nil, false
}

// customResources are the CRD kinds the chart may render, with the spec
// fields each must have.
var customResources = map[string][]string{
	"monitoring.coreos.com/v1/ServiceMonitor": {"selector", "endpoints"},
	"monitoring.coreos.com/v1/PrometheusRule": {"groups"},
	"keda.sh/v1alpha1/ScaledObject":           {"scaleTargetRef", "triggers"},
}

// decoded is a rendering decoded into typed objects.
type decoded struct {
	deployments map[string]*appsv1.Deployment // by role
	services    []*corev1.Service
	secrets     []*corev1.Secret
	configMaps  []*corev1.ConfigMap
	jobs        []*batchv1.Job
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	custom      map[string][]map[string]any // by kind
}

func decode(t *testing.T, ms []manifest) decoded {
	t.Helper()
	d := decoded{deployments: map[string]*appsv1.Deployment{}, custom: map[string][]map[string]any{}}
	for _, m := range ms {
		obj, ok := typed(m.APIVersion, m.Kind)
		if !ok {
			required, known := customResources[m.APIVersion+"/"+m.Kind]
			if !known {
				t.Errorf("%s: unexpected kind %s/%s", m, m.APIVersion, m.Kind)
				continue
			}
			var u map[string]any
			if err := strict(m.JSON, &u); err != nil {
				t.Errorf("%s: %v", m, err)
				continue
			}
			spec, _ := u["spec"].(map[string]any)
			for _, f := range required {
				if _, ok := spec[f]; !ok {
					t.Errorf("%s: spec.%s missing", m, f)
				}
			}
			d.custom[m.Kind] = append(d.custom[m.Kind], u)
			continue
		}
		if err := strict(m.JSON, obj); err != nil {
			t.Errorf("%s: does not decode strictly into %T: %v", m, obj, err)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			d.deployments[o.Labels["app.kubernetes.io/component"]] = o
		case *corev1.Service:
			d.services = append(d.services, o)
		case *corev1.Secret:
			d.secrets = append(d.secrets, o)
		case *corev1.ConfigMap:
			d.configMaps = append(d.configMaps, o)
		case *batchv1.Job:
			d.jobs = append(d.jobs, o)
		case *policyv1.PodDisruptionBudget:
			d.pdbs = append(d.pdbs, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			d.hpas = append(d.hpas, o)
		}
	}
	return d
}

var roles = []string{"api", "dispatch", "deliver", "retry", "sink"}

func TestManifestsDecodeStrictly(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			d := decode(t, render(t, vs.files...))
			for _, role := range roles {
				if d.deployments[role] == nil {
					t.Errorf("no Deployment for role %s", role)
				}
			}
			if len(d.jobs) != 1 {
				t.Errorf("%d migration Jobs, want 1", len(d.jobs))
			}
		})
	}
}

func TestRecommendedLabels(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			for _, m := range render(t, vs.files...) {
				var obj struct {
					Metadata metav1.ObjectMeta `json:"metadata"`
				}
				if err := json.Unmarshal(m.JSON, &obj); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				checkLabels(t, m.String(), obj.Metadata.Labels)
			}
		})
	}
}

func checkLabels(t *testing.T, what string, labels map[string]string) {
	t.Helper()
	want := map[string]string{
		"app.kubernetes.io/name":       "hookstream",
		"app.kubernetes.io/instance":   release,
		"app.kubernetes.io/version":    "",
		"app.kubernetes.io/part-of":    "hookstream",
		"app.kubernetes.io/managed-by": "Helm",
		"helm.sh/chart":                "",
	}
	for k, v := range want {
		got, ok := labels[k]
		switch {
		case !ok || got == "":
			t.Errorf("%s: label %s missing", what, k)
		case v != "" && got != v:
			t.Errorf("%s: label %s = %q, want %q", what, k, got, v)
		}
	}
}

func TestPodSpecs(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			d := decode(t, render(t, vs.files...))
			for role, dep := range d.deployments {
				what := "Deployment " + dep.Name
				pod := dep.Spec.Template
				checkLabels(t, what+" pod template", pod.Labels)
				sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if !sel.Matches(labels.Set(pod.Labels)) {
					t.Errorf("%s: selector %v does not match its pod labels", what, sel)
				}
				if len(pod.Spec.Containers) != 1 {
					t.Fatalf("%s: %d containers", what, len(pod.Spec.Containers))
				}
				c := pod.Spec.Containers[0]
				if want := []string{"run", "--roles=" + role}; !slices.Equal(c.Args, want) {
					t.Errorf("%s: args %q, want %q", what, c.Args, want)
				}
				if v := envValue(c.Env, "HOOKSTREAM_ROLES"); v != role {
					t.Errorf("%s: HOOKSTREAM_ROLES = %q, want %q", what, v, role)
				}
				checkContainer(t, what, pod.Spec, c, true)
			}
			for _, job := range d.jobs {
				c := job.Spec.Template.Spec.Containers[0]
				if !slices.Equal(c.Args, []string{"migrate"}) {
					t.Errorf("Job %s: args %q, want [migrate]", job.Name, c.Args)
				}
				hooks := job.Annotations["helm.sh/hook"]
				if hooks != "pre-install,pre-upgrade" {
					t.Errorf("Job %s: helm.sh/hook = %q", job.Name, hooks)
				}
				checkContainer(t, "Job "+job.Name, job.Spec.Template.Spec, c, false)
			}
		})
	}
}

func checkContainer(t *testing.T, what string, pod corev1.PodSpec, c corev1.Container, serves bool) {
	t.Helper()
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("%s: pod securityContext.runAsNonRoot not true", what)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: no container securityContext", what)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: readOnlyRootFilesystem not true", what)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: allowPrivilegeEscalation not false", what)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Errorf("%s: capabilities do not drop ALL", what)
	}
	if v := envValue(c.Env, "HOOKSTREAM_INSTANCE_ID"); v != "fieldRef:metadata.name" {
		t.Errorf("%s: HOOKSTREAM_INSTANCE_ID = %q, want the pod name", what, v)
	}
	if !serves {
		return
	}
	if len(c.Ports) != 2 || c.Ports[0].Name != "http" || c.Ports[1].Name != "metrics" ||
		c.Ports[0].ContainerPort == c.Ports[1].ContainerPort {
		t.Fatalf("%s: ports %v, want two, named http and metrics", what, c.Ports)
	}
	for i, env := range []string{"HOOKSTREAM_HTTP_ADDR", "HOOKSTREAM_METRICS_ADDR"} {
		if want := fmt.Sprintf(":%d", c.Ports[i].ContainerPort); envValue(c.Env, env) != want {
			t.Errorf("%s: %s = %q, want %q", what, env, envValue(c.Env, env), want)
		}
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s probe", what, p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: %s probe %s on %s, want %s on http", what, p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
}

// envValue is the value of an env var, "fieldRef:<path>" or
// "secret:<name>/<key>" for references, "" when absent.
func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name != name {
			continue
		}
		switch {
		case e.ValueFrom == nil:
			return e.Value
		case e.ValueFrom.FieldRef != nil:
			return "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom.SecretKeyRef != nil:
			return "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	return ""
}

// TestSelectorsFindPods checks that Services, PodDisruptionBudgets, HPAs
// and the ScaledObject point at the chart's Deployments.
func TestSelectorsFindPods(t *testing.T) {
	for _, vs := range valueSets {
		t.Run(vs.name, func(t *testing.T) {
			d := decode(t, render(t, vs.files...))
			podsOf := func(selector map[string]string) []string {
				var found []string
				for role, dep := range d.deployments {
					match := true
					for k, v := range selector {
						if dep.Spec.Template.Labels[k] != v {
							match = false
						}
					}
					if match {
						found = append(found, role)
					}
				}
				slices.Sort(found)
				return found
			}
			for _, s := range d.services {
				got := podsOf(s.Spec.Selector)
				// The API's Service exposes the API alone; metrics and
				// profiles are reached through the metrics Service only.
				port := ""
				switch s.Labels["app.kubernetes.io/component"] {
				case "api":
					port = "http"
					if !slices.Equal(got, []string{"api"}) {
						t.Errorf("Service %s selects %v, want [api]", s.Name, got)
					}
				case "metrics":
					port = "metrics"
					if !slices.Equal(got, []string{"api", "deliver", "dispatch", "retry", "sink"}) {
						t.Errorf("Service %s selects %v, want every role", s.Name, got)
					}
				default:
					t.Errorf("Service %s: unexpected component", s.Name)
				}
				if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort.String() != port {
					t.Errorf("Service %s: ports %v, want one, to port %s", s.Name, s.Spec.Ports, port)
				}
			}
			for _, sm := range d.custom["ServiceMonitor"] {
				eps, _ := sm["spec"].(map[string]any)["endpoints"].([]any)
				for _, ep := range eps {
					if port := ep.(map[string]any)["port"]; port != "metrics" {
						t.Errorf("ServiceMonitor scrapes port %v, want metrics", port)
					}
				}
			}
			for _, p := range d.pdbs {
				if got := podsOf(p.Spec.Selector.MatchLabels); len(got) != 1 {
					t.Errorf("PodDisruptionBudget %s selects %v, want one role", p.Name, got)
				}
			}
			names := map[string]bool{}
			for _, dep := range d.deployments {
				names[dep.Name] = true
			}
			for _, h := range d.hpas {
				if !names[h.Spec.ScaleTargetRef.Name] || h.Spec.ScaleTargetRef.Kind != "Deployment" {
					t.Errorf("HPA %s targets %v", h.Name, h.Spec.ScaleTargetRef)
				}
				if dep := d.deployments[h.Labels["app.kubernetes.io/component"]]; dep != nil && dep.Spec.Replicas != nil {
					t.Errorf("Deployment %s sets replicas although an HPA scales it", dep.Name)
				}
			}
			for _, so := range d.custom["ScaledObject"] {
				ref := so["spec"].(map[string]any)["scaleTargetRef"].(map[string]any)
				if !names[ref["name"].(string)] {
					t.Errorf("ScaledObject targets %v", ref)
				}
			}
		})
	}
}
