package chartcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "../helm/hookstream"
	allFeatures = "../helm/ci/all-features.yaml"
	release     = "rel"
	namespace   = "hooks"
)

// valueSets are the renderings every test checks: the defaults and every
// optional feature on.
var valueSets = []struct {
	name  string
	files []string
}{
	{"defaults", nil},
	{"all-features", []string{allFeatures}},
}

// manifest is one rendered object: its kind and name, and its JSON.
type manifest struct {
	APIVersion string
	Kind       string
	Name       string
	Source     string
	JSON       []byte
}

func (m manifest) String() string { return fmt.Sprintf("%s %s (%s)", m.Kind, m.Name, m.Source) }

var (
	renderMu    sync.Mutex
	renderCache = map[string][]manifest{}
)

// render runs `helm template` on the chart with the value files and
// returns its objects, cached per value set.
func render(t *testing.T, files ...string) []manifest {
	t.Helper()
	key := strings.Join(files, ",")
	renderMu.Lock()
	defer renderMu.Unlock()
	if ms, ok := renderCache[key]; ok {
		return ms
	}
	helm := os.Getenv("HELM")
	if helm == "" {
		t.Fatal("HELM is not set: run `make test-deploy`, which builds the pinned helm and sets it")
	}
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, f := range files {
		args = append(args, "--values", f)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	ms, err := splitManifests(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatalf("helm template rendered nothing for %v", files)
	}
	renderCache[key] = ms
	return ms
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// splitManifests splits a multi-document YAML stream into objects,
// skipping empty documents.
func splitManifests(out []byte) ([]manifest, error) {
	var ms []manifest
	for _, doc := range docSeparator.Split(string(out), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		source := ""
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			source = m[1]
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if string(js) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if head.Kind == "" || head.APIVersion == "" || head.Metadata.Name == "" {
			return nil, fmt.Errorf("%s: object without apiVersion, kind or metadata.name:\n%s", source, doc)
		}
		ms = append(ms, manifest{APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, Source: source, JSON: js})
	}
	return ms, nil
}

// strict decodes JSON into v, failing on fields v does not have.
func strict(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// readYAML reads a YAML file (through symlinks) into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
