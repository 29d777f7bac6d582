package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The embedded Kafka runs in a child process (this program again, with
// -broker-child), so that its CPU and memory are measured apart from the
// receiver's and hookstream's, and its garbage collection does not pause
// the receiver.

// serveBroker is the child: it starts a one-broker kfake cluster on a free
// port, prints its address and runs until its standard input closes (the
// parent exited or stopped it).
func serveBroker() error {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	defer c.Close()
	fmt.Printf("brokers %s\n", strings.Join(c.ListenAddrs(), ","))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// broker is a running embedded Kafka child process.
type broker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string
}

func startBroker(ctx context.Context) (*broker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-broker-child")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	b := &broker{cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(stdout).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		addrs, ok := strings.CutPrefix(strings.TrimSpace(s), "brokers ")
		if !ok {
			b.stop()
			return nil, errors.New("embedded kafka did not start")
		}
		b.addrs = strings.Split(addrs, ",")
		return b, nil
	case <-time.After(20 * time.Second):
	case <-ctx.Done():
	}
	b.stop()
	return nil, errors.New("embedded kafka did not start within 20s")
}

func (b *broker) pid() int { return b.cmd.Process.Pid }

func (b *broker) stop() {
	_ = b.stdin.Close()
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
}
