package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/internal/testenv"
)

// podmanRun is how containers run on these machines: runc (crun fails on
// this kernel), the host's network (no CNI or slirp setup), and limits that
// fit under the machine's own.
var podmanRun = []string{"--runtime", "runc", "run", "--network=host",
	"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"}

// TestRunInPodman loads the archive into podman and runs the image for
// real, as the chart does: `migrate`, then one container per role (api,
// dispatch, deliver, retry, sink) on the real Kafka broker
// (HOOKSTREAM_KAFKA_BROKERS) and the test Postgres, each with a read-only
// root file system and no capabilities. An event published through the
// API's container must reach a receiver in this test signed the Standard
// Webhooks way, and its delivery must be recorded as succeeded.
//
// If this machine cannot run containers at all (a static probe binary in
// an image of its own does not run), the test says why and skips; TestImages
// has checked the image's structure either way.
func TestRunInPodman(t *testing.T) {
	needBuild(t)
	brokers := os.Getenv("HOOKSTREAM_KAFKA_BROKERS")
	if brokers == "" {
		t.Fatal("needs a real Kafka broker: set HOOKSTREAM_KAFKA_BROKERS (make test-image starts scripts/kafka-local)")
	}
	dbURL := testenv.DatabaseURL(t)
	probeContainers(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := podman(t, ctx, "load", "-i", built.archive)
	if !strings.Contains(out, built.ref) {
		t.Fatalf("podman load: want %s loaded, got:\n%s", built.ref, out)
	}
	t.Cleanup(func() { podmanQuiet("rmi", "-f", built.ref) })
	arch := strings.TrimSpace(podman(t, ctx, "image", "inspect", "--format", "{{.Architecture}} {{.User}}", built.ref))
	t.Logf("podman loaded %s: %s", built.ref, arch)

	// The receiver, on the host's loopback (the containers share the host's
	// network).
	type request struct {
		header http.Header
		body   []byte
	}
	got := make(chan request, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.Header.Clone(), body}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	key := make([]byte, 32)
	rand.Read(key)
	token := "hs_admin_" + base64.RawURLEncoding.EncodeToString(key[:18])
	prefix := testenv.Name("imgtest") + "."
	env := map[string]string{
		"HOOKSTREAM_DATABASE_URL":         dbURL,
		"HOOKSTREAM_KAFKA_BROKERS":        brokers,
		"HOOKSTREAM_SECRET_KEY":           base64.StdEncoding.EncodeToString(key),
		"HOOKSTREAM_ADMIN_TOKEN":          token,
		"HOOKSTREAM_TOPIC_PREFIX":         prefix,
		"HOOKSTREAM_TOPIC_PARTITIONS":     "2",
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS": "127.0.0.0/8",
	}

	// migrate, then the roles.
	migrate := podman(t, ctx, append(containerArgs(env, "", "", ""), "migrate")...)
	if !strings.Contains(migrate, "migrations applied") {
		t.Fatalf("migrate: %s", migrate)
	}
	api := ""
	metrics := map[string]string{}
	for _, role := range []string{"api", "dispatch", "deliver", "retry", "sink"} {
		httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
		name := prefix[:len(prefix)-1] + "-" + role
		podman(t, ctx, append(containerArgs(env, name, httpAddr, metricsAddr), "run", "--roles="+role)...)
		t.Cleanup(func() {
			if t.Failed() {
				logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
				t.Logf("podman logs %s:\n%s", name, logs)
			}
			podmanQuiet("rm", "-f", "-t", "5", name)
		})
		if role == "api" {
			api = "http://" + httpAddr
		}
		metrics[role] = "http://" + metricsAddr + "/metrics"
		waitReady(t, ctx, name, "http://"+httpAddr+"/readyz")
		checkUser(t, ctx, name)
	}

	call := func(method, path string, body any, into any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequestWithContext(ctx, method, api+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
		if into != nil {
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatalf("%s %s: %v: %s", method, path, err, b)
			}
		}
	}
	var ep struct{ ID, Secret string }
	call("POST", "/v1/endpoints", map[string]any{"url": receiver.URL + "/hook", "event_types": []string{"image.*"}}, &ep)
	data := `{"image":"` + built.ref + `","ok":true}`
	call("POST", "/v1/events", map[string]any{"id": "evt_image_1", "type": "image.ran", "data": json.RawMessage(data)}, nil)

	var r request
	select {
	case r = <-got:
	case <-ctx.Done():
		t.Fatal("no webhook arrived from the containers")
	}
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Errorf("Standard Webhooks verification failed: %v (headers %v)", err, r.header)
	}
	if string(r.body) != data {
		t.Errorf("body %q, want the event's data %q", r.body, data)
	}
	t.Logf("webhook %s arrived, signature verified: %s", r.header.Get("webhook-id"), r.body)

	// The sink's container recorded it.
	for {
		var list struct {
			Data []struct{ ID, Status string }
		}
		call("GET", "/v1/deliveries?event_id=evt_image_1", nil, &list)
		if len(list.Data) == 1 && list.Data[0].Status == "succeeded" {
			if list.Data[0].ID != r.header.Get("webhook-id") {
				t.Errorf("delivery %s, webhook-id %s", list.Data[0].ID, r.header.Get("webhook-id"))
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("delivery of evt_image_1 not recorded as succeeded: %+v", list.Data)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// And the deliverer's metrics say so.
	body := get(t, ctx, metrics["deliver"])
	if !strings.Contains(body, `hookstream_attempts_total{`) {
		t.Errorf("deliver's /metrics has no hookstream_attempts_total:\n%.2000s", body)
	}
}

// containerArgs is `podman run` for the image with env, detached and named
// when name is set (removed when it exits otherwise), as the chart's
// securityContext runs it: read-only root, no capabilities, no privilege
// escalation; the image's own user.
func containerArgs(env map[string]string, name, httpAddr, metricsAddr string) []string {
	args := append([]string{}, podmanRun...)
	args = append(args, "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges")
	if name == "" {
		args = append(args, "--rm")
	} else {
		args = append(args, "-d", "--name", name,
			"-e", "HOOKSTREAM_HTTP_ADDR="+httpAddr, "-e", "HOOKSTREAM_METRICS_ADDR="+metricsAddr,
			"-e", "HOOKSTREAM_INSTANCE_ID="+name)
	}
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	return append(args, built.ref)
}

// probeContainers skips the test, saying exactly why, when podman cannot
// run a container on this machine: it runs a static probe binary, built
// here, in an image of its own. On CI a missing podman is a failure:
// .ci/run installs it.
func probeContainers(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("podman is not installed: .ci/run installs podman and runc")
		}
		t.Skip("cannot run containers: podman is not installed (apt-get install podman runc); the image's structure is checked by TestImages")
	}
	dir := t.TempDir()
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"probe ran\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gocmd := built.opts.Go
	if gocmd == "" {
		gocmd = "go"
	}
	b := exec.Command(gocmd, "build", "-o", filepath.Join(dir, "probe"), ".")
	b.Dir, b.Env = dir, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := b.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	var tarball bytes.Buffer
	data, _ := os.ReadFile(filepath.Join(dir, "probe"))
	if err := writeTar(&tarball, []entry{{name: "probe", mode: 0o755, data: data}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	tag := "localhost/" + testenv.Name("hookstream-probe") + ":1"
	imp := exec.Command("podman", "import", "--change", `ENTRYPOINT ["/probe"]`, "-", tag)
	imp.Stdin = &tarball
	if out, err := imp.CombinedOutput(); err != nil {
		t.Skipf("cannot run containers here: podman import of a probe image failed: %v\n%s", err, out)
	}
	defer podmanQuiet("rmi", "-f", tag)
	out, err := exec.Command("podman", append(append([]string{}, podmanRun...), "--rm", tag)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "probe ran") {
		t.Skipf("cannot run containers here: podman %s %s: %v\n%s", strings.Join(podmanRun, " "), tag, err, out)
	}
	t.Logf("podman runs containers here (%s)", strings.Join(podmanRun, " "))
}

func podman(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "podman", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(redact(args), " "), err, out)
	}
	return string(out)
}

// redact hides the values of -e flags (secrets) in failure messages.
func redact(args []string) []string {
	out := append([]string{}, args...)
	for i := 1; i < len(out); i++ {
		if out[i-1] == "-e" {
			k, _, _ := strings.Cut(out[i], "=")
			out[i] = k + "=…"
		}
	}
	return out
}

func podmanQuiet(args ...string) { _ = exec.Command("podman", args...).Run() }

// waitReady waits until the container answers 200 on /readyz (Postgres and
// Kafka reachable), failing early if it exits.
func waitReady(t *testing.T, ctx context.Context, name, url string) {
	t.Helper()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		state, _ := exec.Command("podman", "inspect", "--format", "{{.State.Status}}", name).Output()
		if s := strings.TrimSpace(string(state)); s == "exited" || s == "stopped" {
			t.Fatalf("container %s %s before it was ready", name, s)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("container %s not ready at %s", name, url)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkUser: the container's process runs as 65532 (the kernel says so,
// not the image's config).
func checkUser(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	pid := strings.TrimSpace(podman(t, ctx, "inspect", "--format", "{{.State.Pid}}", name))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("container %s: %v", name, err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) >= 3 && (f[0] == "Uid:" || f[0] == "Gid:") && (f[1] != "65532" || f[2] != "65532") {
			t.Errorf("container %s: %s", name, strings.TrimSpace(line))
		}
	}
}

func get(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// freeAddr is a free 127.0.0.1 port, for a container on the host's network.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
