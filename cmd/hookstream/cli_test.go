package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

// The client commands' tests drive the real binary, built once per test
// run, against a running hookstream (startSystem).

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds hookstream once and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hookstream-cli-test")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "hookstream")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("build hookstream: %v", binErr)
	}
	return binPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// result is what a run of the binary left.
type result struct {
	code           int
	stdout, stderr string
}

// cliEnv is the environment a command runs with: the system's API and a
// token, nothing of the test's own HOOKSTREAM_* variables.
func (s *system) cliEnv(token string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "HOOKSTREAM_API_URL=" + s.api}
	if token != "" {
		env = append(env, "HOOKSTREAM_TOKEN="+token)
	}
	return env
}

// hs runs the binary with args against the system, as the admin unless
// token is given with a leading "--token" in args, and waits for it.
func (s *system) hs(args ...string) result {
	s.t.Helper()
	return s.hsAs(s.token, "", args...)
}

// hsAs runs the binary with a token and stdin.
func (s *system) hsAs(token, stdin string, args ...string) result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(s.t), args...)
	cmd.Env = s.cliEnv(token)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run hookstream %v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed and returns its stdout.
func (s *system) ok(args ...string) string {
	s.t.Helper()
	r := s.hs(args...)
	if r.code != 0 {
		s.t.Fatalf("hookstream %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// okJSON runs a command with -o json and decodes its output.
func (s *system) okJSON(out any, args ...string) {
	s.t.Helper()
	raw := s.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(raw), out); err != nil {
		s.t.Fatalf("hookstream %s -o json: %v\n%s", strings.Join(args, " "), err, raw)
	}
}

// running is a command left running (tail, listen), its output read line
// by line.
type running struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start runs a command in the background; it is interrupted at the end of
// the test if still running.
func (s *system) start(token string, args ...string) *running {
	s.t.Helper()
	cmd := exec.Command(binary(s.t), args...)
	cmd.Env = s.cliEnv(token)
	stdout, err := cmd.StdoutPipe()
	testenv.Must(s.t, err, "stdout pipe")
	r := &running{t: s.t, cmd: cmd, lines: make(chan string, 1000), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = r.stderr
	testenv.Must(s.t, cmd.Start(), "start hookstream")
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		_ = cmd.Wait()
		r.code = cmd.ProcessState.ExitCode()
		close(r.done)
	}()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

// line waits for the next line of stdout that contains want.
func (r *running) line(want string, timeout time.Duration) string {
	r.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-r.lines:
			if strings.Contains(l, want) {
				return l
			}
		case <-r.done:
			r.t.Fatalf("command ended (exit %d) before printing %q; stderr:\n%s", r.code, want, r.stderr.String())
		case <-deadline:
			r.t.Fatalf("no line with %q within %v; stderr:\n%s", want, timeout, r.stderr.String())
		}
	}
}

// waitStderr waits until stderr holds want.
func (r *running) waitStderr(want string, timeout time.Duration) string {
	r.t.Helper()
	testenv.Eventually(r.t, timeout, func() bool { return strings.Contains(r.stderr.String(), want) },
		"stderr never held %q: %s", want, r.stderr)
	return r.stderr.String()
}

// interrupt sends SIGINT (Ctrl-C) and returns the exit code.
func (r *running) interrupt() int {
	r.t.Helper()
	testenv.Must(r.t, r.cmd.Process.Signal(syscall.SIGINT), "SIGINT")
	select {
	case <-r.done:
		return r.code
	case <-time.After(30 * time.Second):
		r.t.Fatal("command did not end within 30s of SIGINT")
		return -1
	}
}

var _ io.Writer = (*syncBuffer)(nil)
