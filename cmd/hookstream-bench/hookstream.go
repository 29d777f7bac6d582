package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/seal"
)

// buildHookstream builds cmd/hookstream into dir and returns its path.
func buildHookstream(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "hookstream")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/hookstream/hookstream/cmd/hookstream")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build hookstream: %w", err)
	}
	return out, nil
}

// benchClusters are the bench's own Postgres clusters (scripts/pg-local),
// apart from the shared test cluster on 54329: durable settings by default,
// the same sizes with fsync off for -unsafe.
var benchClusters = map[bool]struct {
	dir, port, tuning string
}{
	false: {"pg-bench", "54339", "durable"},
	true:  {"pg-bench-unsafe", "54338", "unsafe"},
}

// pgAdminURL returns the URL of a Postgres database from which the bench
// creates one database per scenario: dbURL when given, else the bench's
// own scripts/pg-local cluster (started if needed), durable unless unsafe.
func pgAdminURL(ctx context.Context, repo, dbURL string, unsafe bool) (string, error) {
	if dbURL != "" {
		return dbURL, nil
	}
	c := benchClusters[unsafe]
	script := filepath.Join(repo, "scripts", "pg-local")
	env := append(os.Environ(), "HOOKSTREAM_PG_DIR="+filepath.Join(repo, ".dev", c.dir),
		"HOOKSTREAM_PG_PORT="+c.port, "HOOKSTREAM_PG_TUNING="+c.tuning)
	start := exec.CommandContext(ctx, script, "start")
	start.Env = env
	start.Stdout, start.Stderr = os.Stderr, os.Stderr
	if err := start.Run(); err != nil {
		return "", fmt.Errorf("scripts/pg-local start: %w", err)
	}
	url := exec.CommandContext(ctx, script, "url")
	url.Env = env
	out, err := url.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg-local url: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// pgSettingNames are the server settings a run reports: what makes a
// figure durable or not, and the sizes that matter for a write load.
var pgSettingNames = []string{"server_version", "fsync", "synchronous_commit", "full_page_writes",
	"wal_sync_method", "shared_buffers", "wal_buffers", "max_wal_size", "checkpoint_timeout",
	"checkpoint_completion_target", "commit_delay", "shared_preload_libraries"}

// pgSettings reads pgSettingNames from the server at url.
func pgSettings(ctx context.Context, url string) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	out := map[string]string{}
	for _, n := range pgSettingNames {
		var v string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", n).Scan(&v); err != nil {
			return nil, fmt.Errorf("SHOW %s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
}

// durable reports whether settings acknowledge a commit only once it is on
// disk.
func durable(settings map[string]string) bool {
	return settings["fsync"] == "on" && settings["full_page_writes"] == "on" &&
		(settings["synchronous_commit"] == "on" || settings["synchronous_commit"] == "remote_apply" ||
			settings["synchronous_commit"] == "remote_write" || settings["synchronous_commit"] == "local")
}

// withDatabase returns rawURL with its database name replaced.
func withDatabase(rawURL, db string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}

// pgExec runs one statement on url.
func pgExec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// postmasterPID finds the server process of the database at url (for its
// CPU time), or 0 when its data directory cannot be read.
func postmasterPID(ctx context.Context, url string) int {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0
	}
	defer conn.Close(ctx)
	var dir string
	if conn.QueryRow(ctx, "SHOW data_directory").Scan(&dir) != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// tableCounts returns the rows of the tables the pipeline writes.
func tableCounts(ctx context.Context, conn *pgx.Conn) (events, deliveries, attempts int64, err error) {
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries),
		(SELECT count(*) FROM attempts)`).Scan(&events, &deliveries, &attempts)
	return
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// deployment is hookstream running for one scenario: its environment, its
// processes, its database.
type deployment struct {
	bin      string
	env      []string
	logDir   string
	adminTok string
	prefix   string
	brokers  []string

	mu    sync.Mutex
	procs []*hsProc
}

// hsProc is one hookstream process.
type hsProc struct {
	roles   string
	addr    string
	metrics string // HOOKSTREAM_METRICS_ADDR
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	peak    int64 // VmHWM in KiB, read just before it is stopped
}

func (d *deployment) baseEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKSTREAM_") {
			env = append(env, kv)
		}
	}
	keys := map[string]string{
		"HOOKSTREAM_ADMIN_TOKEN":            d.adminTok,
		"HOOKSTREAM_SECRET_KEY":             seal.GenerateKey(),
		"HOOKSTREAM_KAFKA_BROKERS":          strings.Join(d.brokers, ","),
		"HOOKSTREAM_TOPIC_PREFIX":           d.prefix,
		"HOOKSTREAM_ALLOWED_TARGET_CIDRS":   "127.0.0.0/8",
		"HOOKSTREAM_LOG_LEVEL":              cmp.Or(os.Getenv("HOOKSTREAM_LOG_LEVEL"), "warn"),
		"HOOKSTREAM_DISABLE_AFTER_FAILURES": "0",
		"HOOKSTREAM_SHUTDOWN_GRACE":         "5s",
		"HOOKSTREAM_RETRY_SCHEDULE":         "10m,1h",
		// The bench measures the pipeline, not the tenant limits: its
		// endpoints are created as fast as the API answers, and
		// -fanout-endpoints may pass the default 1,000.
		"HOOKSTREAM_TENANT_API_RATE":          "0",
		"HOOKSTREAM_MAX_ENDPOINTS_PER_TENANT": "0",
		"HOOKSTREAM_MAX_FANOUT":               "0",
		// HOOKSTREAM_PPROF=true in the bench's environment passes on, to
		// profile a scenario; so does HOOKSTREAM_LOG_LEVEL (with -keep).
		"HOOKSTREAM_PPROF": os.Getenv("HOOKSTREAM_PPROF"),
	}
	for k, v := range extra {
		keys[k] = v
	}
	for k, v := range keys {
		env = append(env, k+"="+v)
	}
	return env
}

// migrate runs hookstream migrate.
func (d *deployment) migrate(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, d.bin, "migrate")
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("hookstream migrate: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// start starts a hookstream process running roles and waits until its
// /readyz answers 200.
func (d *deployment) start(ctx context.Context, roles string) (*hsProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if os.Getenv("HOOKSTREAM_PPROF") == "true" {
		fmt.Fprintf(os.Stderr, "profiles of hookstream %s: http://%s/debug/pprof/\n", roles, metricsAddr)
	}
	logf, err := os.Create(filepath.Join(d.logDir, "hookstream-"+strings.ReplaceAll(roles, ",", "+")+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(d.bin, "run", "--roles="+roles)
	cmd.Env = append(d.env[:len(d.env):len(d.env)], "HOOKSTREAM_HTTP_ADDR="+addr, "HOOKSTREAM_METRICS_ADDR="+metricsAddr)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start hookstream %s: %w", roles, err)
	}
	p := &hsProc{roles: roles, addr: addr, metrics: metricsAddr, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); logf.Close(); close(p.done) }()
	d.mu.Lock()
	d.procs = append(d.procs, p)
	d.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("hookstream %s exited at start (%v); see %s", roles, p.err, logf.Name())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("hookstream %s not ready after 60s; see %s", roles, logf.Name())
		}
	}
}

func (p *hsProc) pid() int { return p.cmd.Process.Pid }

func (p *hsProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop records the process's peak RSS, then stops it: SIGTERM, SIGKILL
// after 20 s.
func (p *hsProc) stop() {
	if !p.running() {
		return
	}
	_, p.peak = memKiB(p.pid())
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// running returns the processes still running.
func (d *deployment) running() []*hsProc {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*hsProc
	for _, p := range d.procs {
		if p.running() {
			out = append(out, p)
		}
	}
	return out
}

func (d *deployment) stopAll() {
	d.mu.Lock()
	procs := d.procs
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}

// metric returns the sum of the samples of the counter or gauge name on
// the process's /metrics whose labels contain label (all when ""); 0 when
// it cannot be read.
func (p *hsProc) metric(name, label string) float64 {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, label) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			sum += v
		}
	}
	return sum
}

// createTenants creates tenants through the API of the process at apiAddr.
func (d *deployment) createTenants(ctx context.Context, apiAddr string, ids []string) error {
	for _, id := range ids {
		b, _ := json.Marshal(map[string]string{"id": id})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/v1/tenants", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+d.adminTok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("create tenant %s: %w", id, err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("create tenant %s: %s: %s", id, resp.Status, bytes.TrimSpace(rb))
		}
	}
	return nil
}

// createEndpoints subscribes n endpoints through the API of the process
// at apiAddr. URL of endpoint k: receiver/e/<k>; types(k) its event types;
// timeoutMS(k) its timeout (0: the default); tenant(k) its tenant (nil or
// "": the default tenant).
func (d *deployment) createEndpoints(ctx context.Context, apiAddr, receiver string, n int,
	types func(k int) []string, timeoutMS func(k int) int, slow func(k int) bool, tenant func(k int) string, ordered bool, filter func(k int) string) ([]target, error) {
	out := make([]target, n)
	client := &http.Client{Timeout: 30 * time.Second}
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range jobs {
				body := map[string]any{"url": fmt.Sprintf("http://%s/e/%d", receiver, k), "event_types": types(k)}
				if ms := timeoutMS(k); ms > 0 {
					body["timeout_ms"] = ms
				}
				if ordered {
					body["ordering"] = "key"
				}
				if filter != nil {
					body["filter"] = filter(k)
				}
				b, _ := json.Marshal(body)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+apiAddr+"/v1/endpoints", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+d.adminTok)
				req.Header.Set("Content-Type", "application/json")
				var tn string
				if tenant != nil {
					tn = tenant(k)
				}
				if tn != "" {
					req.Header.Set(api.TenantHeader, tn)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("create endpoint %d: %w", k, err)
					continue
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("create endpoint %d: %s: %s", k, resp.Status, bytes.TrimSpace(rb))
					continue
				}
				var ep struct{ ID, Secret string }
				if err := json.Unmarshal(rb, &ep); err != nil {
					errs <- fmt.Errorf("create endpoint %d: %w", k, err)
					continue
				}
				key, err := delivery.ParseSecret(ep.Secret)
				if err != nil {
					errs <- fmt.Errorf("create endpoint %d: %w", k, err)
					continue
				}
				out[k] = target{id: ep.ID, key: key, slow: slow(k), tenant: tn}
			}
		})
	}
	for k := range n {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return out, nil
}

// groupWant is what a stage's consumer group must look like before the
// bench publishes: at least members members, and partitions partitions
// of its topic assigned among them.
type groupWant struct{ members, partitions int }

// waitGroups waits until the consumer groups of the stages are stable,
// each with the members want gives it and every partition of its topic
// assigned, so that the first events do not wait for a group join or a
// rebalance. A cooperative rebalance is stable twice: first with the
// partitions taken from the old members unassigned, then with them handed
// to the new ones. It gives up quietly after timeout: the measurement then
// includes the join.
func waitGroups(ctx context.Context, brokers []string, want map[string]groupWant, timeout time.Duration) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return false
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		described, err := adm.DescribeGroups(ctx, slices.Collect(maps.Keys(want))...)
		ok := err == nil
		for g, w := range want {
			dg, found := described[g]
			if !found || dg.Err != nil || dg.State != "Stable" || len(dg.Members) < max(1, w.members) {
				ok = false
				continue
			}
			assigned := 0
			for _, m := range dg.Members {
				if c, isConsumer := m.Assigned.AsConsumer(); isConsumer {
					for _, t := range c.Topics {
						assigned += len(t.Partitions)
					}
				}
			}
			if assigned < w.partitions {
				ok = false
			}
		}
		if ok {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// deleteTopics deletes the scenario's topics from a shared broker.
func deleteTopics(ctx context.Context, brokers []string, prefix string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return
	}
	var mine []string
	for _, t := range topics.Names() {
		if strings.HasPrefix(t, prefix) {
			mine = append(mine, t)
		}
	}
	if len(mine) > 0 {
		_, _ = adm.DeleteTopics(ctx, mine...)
	}
}
