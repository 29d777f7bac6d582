// Command image builds hookstream's container image without a Docker
// engine: `make image` runs it. It compiles a static hookstream for each
// platform (CGO_ENABLED=0, -trimpath), lays it over a scratch base that holds
// only CA certificates, the time zone database and a passwd entry for the
// non-root user 65532, and writes a multi-platform OCI image index into an
// OCI layout directory. With -push it also pushes the index to a registry.
//
// The image is reproducible: every timestamp is the source's date
// (SOURCE_DATE_EPOCH, else the commit's time), tar entries are sorted with
// fixed owners and modes, and the CA certificates and time zones come from
// pinned sources (golang.org/x/crypto/x509roots/fallback, the Go
// toolchain's zoneinfo.zip), not from the machine that builds. The same
// source, built with the same Go toolchain, gives the same digest.
//
// It is built on go-containerregistry (the library under ko and crane) in a
// module of its own, so that the product's go.mod does not carry it. It
// does not pull anything: there is no base image to fetch.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// defaultRepo is the chart's default image.repository.
const defaultRepo = "ghcr.io/hookstream/hookstream"

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("src", "../..", "hookstream's source tree (the module root)")
	out := fs.String("out", "", "output directory: oci/ (an OCI layout) and hookstream.oci.tar (the same as an archive) are replaced; default <src>/.dev/image")
	version := fs.String("version", "", "image version and tag; default the chart's appVersion")
	revision := fs.String("revision", "", "source revision for the labels; default git's HEAD (+\"-dirty\")")
	sourceURL := fs.String("source-url", "https://github.com/hookstream/hookstream", "org.opencontainers.image.source")
	platforms := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list")
	repo := fs.String("repo", defaultRepo, "repository the image is named for (ref.name in the layout, the archive's name when loaded)")
	push := fs.Bool("push", false, "push the index to <repo>:<version>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := filepath.Abs(*src)
	if err != nil {
		return err
	}
	opts := options{
		Src:       root,
		Version:   *version,
		Revision:  *revision,
		SourceURL: *sourceURL,
		Go:        os.Getenv("GO"),
		Log:       stderr,
	}
	if opts.Version == "" {
		if opts.Version, err = chartAppVersion(root); err != nil {
			return err
		}
	}
	facts := gitFacts(ctx, root)
	if opts.Revision == "" {
		opts.Revision = facts.revision
	}
	if opts.Epoch, err = sourceDate(os.Getenv("SOURCE_DATE_EPOCH"), facts.commitTime); err != nil {
		return err
	}
	if opts.Platforms, err = parsePlatforms(*platforms); err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join(root, ".dev", "image")
	}
	ref, err := name.NewTag(*repo + ":" + opts.Version)
	if err != nil {
		return fmt.Errorf("repo: %w", err)
	}

	idx, err := build(ctx, opts)
	if err != nil {
		return err
	}
	layoutDir, archive := filepath.Join(dir, "oci"), filepath.Join(dir, "hookstream.oci.tar")
	if err := writeLayout(layoutDir, idx, ref.String()); err != nil {
		return err
	}
	if err := writeArchive(archive, layoutDir, opts.Epoch); err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "image %s (%s, revision %s, %s)\n  index   %s\n  layout  %s\n  archive %s\n",
		ref, *platforms, opts.Revision, opts.Epoch.Format(time.RFC3339), digest, layoutDir, archive)
	if !*push {
		return nil
	}
	if err := pushIndex(ctx, ref, idx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  pushed %s@%s\n", ref, digest)
	return nil
}

// pushIndex pushes idx (its images and blobs) to ref with the credentials
// that docker, podman or crane login left (authn.DefaultKeychain).
func pushIndex(ctx context.Context, ref name.Reference, idx v1.ImageIndex) error {
	err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return fmt.Errorf("push %s: %w", ref, err)
	}
	return nil
}

// chartAppVersion reads appVersion from the chart, the one place the
// version is written: the chart's default image tag is that version too.
func chartAppVersion(root string) (string, error) {
	path := filepath.Join(root, "deploy", "helm", "hookstream", "Chart.yaml")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("version: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "appVersion:")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		if v == "" {
			break
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("version: %s: %w", path, err)
	}
	return "", fmt.Errorf("version: no appVersion in %s", path)
}

// facts is what git says about the source tree; empty when git cannot.
type facts struct {
	revision   string
	commitTime string // unix seconds
}

func gitFacts(ctx context.Context, root string) facts {
	git := func(args ...string) string {
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	f := facts{revision: git("rev-parse", "HEAD"), commitTime: git("log", "-1", "--format=%ct")}
	if f.revision == "" {
		f.revision = "unknown"
	} else if git("status", "--porcelain", "--untracked-files=no") != "" {
		// The image holds changes no commit has: say so in its labels.
		f.revision += "-dirty"
	}
	return f
}

// sourceDate is the time stamped everywhere in the image: SOURCE_DATE_EPOCH
// when set (https://reproducible-builds.org/specs/source-date-epoch/), else
// the commit's time, else the Unix epoch.
func sourceDate(env, commit string) (time.Time, error) {
	for _, s := range []string{env, commit} {
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a count of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Unix(0, 0).UTC(), nil
}

func parsePlatforms(s string) ([]v1.Platform, error) {
	var ps []v1.Platform
	for p := range strings.SplitSeq(s, ",") {
		os, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || os != "linux" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("platform %q: want linux/<arch>, e.g. linux/arm64", p)
		}
		ps = append(ps, v1.Platform{OS: os, Architecture: arch})
	}
	return ps, nil
}
