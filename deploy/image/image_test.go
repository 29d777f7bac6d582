package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The build every test looks at: made once by TestMain from this checkout,
// written the way `make image` writes it.
var (
	built struct {
		opts    options
		dir     string // output directory: oci/ and hookstream.oci.tar
		ref     string
		index   v1.ImageIndex // read back from the layout
		digest  v1.Hash
		archive string
	}
	buildErr error
)

const testVersion = "9.9.9-test"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hookstream-image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildErr = buildForTests(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildForTests(dir string) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	ctx := context.Background()
	epoch, err := sourceDate("", gitFacts(ctx, root).commitTime)
	if err != nil {
		return err
	}
	built.opts = options{
		Src: root, Version: testVersion, Revision: "0123456789abcdef0123456789abcdef01234567",
		SourceURL: "https://github.com/hookstream/hookstream", Epoch: epoch,
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
		Go:        os.Getenv("GO"), Log: os.Stderr,
	}
	built.dir, built.ref = dir, defaultRepo+":"+testVersion
	built.archive = filepath.Join(dir, "hookstream.oci.tar")
	idx, err := build(ctx, built.opts)
	if err != nil {
		return err
	}
	if err := writeLayout(filepath.Join(dir, "oci"), idx, built.ref); err != nil {
		return err
	}
	if err := writeArchive(built.archive, filepath.Join(dir, "oci"), epoch); err != nil {
		return err
	}
	// Read the index back from disk: the tests check what was written.
	lp, err := layout.FromPath(filepath.Join(dir, "oci"))
	if err != nil {
		return err
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations[labelRefName] != built.ref {
		return fmt.Errorf("layout index.json: want one index named %s, got %+v", built.ref, im.Manifests)
	}
	built.digest = im.Manifests[0].Digest
	built.index, err = top.ImageIndex(built.digest)
	return err
}

func needBuild(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building the image: %v", buildErr)
	}
}

// TestIndex: one OCI index of linux/amd64 and linux/arm64 images, with the
// OCI annotations.
func TestIndex(t *testing.T) {
	needBuild(t)
	im, err := built.index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %q", im.MediaType)
	}
	var platforms []string
	for _, d := range im.Manifests {
		if d.MediaType != "application/vnd.oci.image.manifest.v1+json" {
			t.Errorf("%s: media type %q", d.Digest, d.MediaType)
		}
		platforms = append(platforms, d.Platform.String())
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %v, want %v", platforms, want)
	}
	checkLabels(t, "index annotations", im.Annotations)
}

func checkLabels(t *testing.T, what string, got map[string]string) {
	t.Helper()
	want := map[string]string{
		labelSource:   "https://github.com/hookstream/hookstream",
		labelRevision: built.opts.Revision,
		labelVersion:  testVersion,
		labelCreated:  built.opts.Epoch.Format(time.RFC3339),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

// TestImages: each platform's image runs /usr/local/bin/hookstream as
// 65532:65532, carries the labels and the source's date, and holds a
// static binary for its architecture, the CA certificates, the time zones
// and the passwd entry, and nothing else: no shell.
func TestImages(t *testing.T) {
	needBuild(t)
	im, err := built.index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for _, d := range im.Manifests {
		arch := d.Platform.Architecture
		t.Run(arch, func(t *testing.T) {
			img, err := built.index.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != arch {
				t.Errorf("config platform %s/%s", cf.OS, cf.Architecture)
			}
			if !cf.Created.Equal(built.opts.Epoch) {
				t.Errorf("created %v, want the source's date %v", cf.Created, built.opts.Epoch)
			}
			for _, h := range cf.History {
				if !h.Created.Equal(built.opts.Epoch) {
					t.Errorf("history %q created %v", h.CreatedBy, h.Created)
				}
			}
			c := cf.Config
			if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/hookstream"}) || !slices.Equal(c.Cmd, []string{"run"}) {
				t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
			}
			if c.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532", c.User)
			}
			checkLabels(t, "config labels", c.Labels)

			files := imageFiles(t, img)
			bin, ok := files["usr/local/bin/hookstream"]
			if !ok || bin.Mode != 0o755 {
				t.Fatalf("no executable usr/local/bin/hookstream: %+v", bin.Header)
			}
			checkStatic(t, bin.data, machines[arch])
			for _, gone := range []string{"bin/sh", "bin/busybox", "usr/bin/env"} {
				if _, ok := files[gone]; ok {
					t.Errorf("%s is in the image", gone)
				}
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(files[caFile].data) || strings.Count(string(files[caFile].data), "BEGIN CERTIFICATE") < 100 {
				t.Errorf("%s: not a CA bundle (%d bytes)", caFile, len(files[caFile].data))
			}
			if _, err := time.LoadLocationFromTZData("Europe/Paris", files[zoneinfoDir+"/Europe/Paris"].data); err != nil {
				t.Errorf("time zone Europe/Paris: %v", err)
			}
			if !strings.Contains(string(files["etc/passwd"].data), "nonroot:x:65532:65532:") {
				t.Errorf("etc/passwd: %q", files["etc/passwd"].data)
			}
			if tmp := files["tmp"]; tmp.Typeflag != tar.TypeDir || tmp.Mode != 0o1777 {
				t.Errorf("tmp: %+v", tmp.Header)
			}
		})
	}
}

type file struct {
	*tar.Header
	data []byte
}

// imageFiles reads every layer of img, checking that each is written the
// reproducible way: sorted entries, the source's date, root's files but
// for the user's home.
func imageFiles(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Errorf("%d layers, want 2 (base, binary)", len(layers))
	}
	files := map[string]file{}
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil || mt != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("layer %d media type %q (%v)", i, mt, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		prev := ""
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			n := strings.TrimSuffix(h.Name, "/")
			if n <= prev {
				t.Errorf("layer %d: %s after %s: entries not sorted", i, n, prev)
			}
			prev = n
			if !h.ModTime.Equal(built.opts.Epoch) {
				t.Errorf("layer %d: %s mtime %v", i, n, h.ModTime)
			}
			if (h.Uid != 0 || h.Gid != 0) && n != "home/nonroot" {
				t.Errorf("layer %d: %s owned by %d:%d", i, n, h.Uid, h.Gid)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[n] = file{h, data}
		}
		rc.Close()
	}
	return files
}

// checkStatic: an ELF executable for machine, without an interpreter or
// shared libraries (CGO_ENABLED=0), without the build's paths (-trimpath).
func checkStatic(t *testing.T, data []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("binary: %v", err)
	}
	defer f.Close()
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("binary: machine %v type %v, want %v executable", f.Machine, f.Type, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary: has %v: dynamically linked", p.Type)
		}
	}
	if root, _ := filepath.Abs("../.."); bytes.Contains(data, []byte(root+"/")) {
		t.Errorf("binary: holds the build's path %s: not built with -trimpath", root)
	}
}

// TestReproducible: the same source, copied to another directory and built
// again, gives the same index digest and the same archive, byte for byte.
func TestReproducible(t *testing.T) {
	needBuild(t)
	src := t.TempDir()
	copySource(t, built.opts.Src, src)
	o := built.opts
	o.Src = src
	again, err := build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := writeLayout(filepath.Join(out, "oci"), again, built.ref); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(out, "hookstream.oci.tar")
	if err := writeArchive(archive, filepath.Join(out, "oci"), o.Epoch); err != nil {
		t.Fatal(err)
	}
	d, err := again.Digest()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("index %s from %s and from %s", d, built.opts.Src, src)
	if d != built.digest {
		t.Errorf("rebuilt index %s, first build %s", d, built.digest)
	}
	if a, b := fileSum(t, built.archive), fileSum(t, archive); a != b {
		t.Errorf("archives differ: %x and %x", a, b)
	}
}

// copySource copies the module's files (not .git, .dev or bin) to dst.
func copySource(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if n := d.Name(); rel != "." && (n == ".git" || n == ".dev" || n == "bin") {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// TestPush: -push's code puts the index into a registry (go-containerregistry's
// own, in this process on 127.0.0.1), which then serves the same digest
// and the image of each platform.
func TestPush(t *testing.T) {
	needBuild(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref, err := name.NewTag(strings.TrimPrefix(srv.URL, "http://")+"/team/hookstream:"+testVersion, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := pushIndex(context.Background(), ref, built.index); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != built.digest {
		t.Errorf("registry serves %s, pushed %s", d, built.digest)
	}
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Architecture != "arm64" {
		t.Errorf("linux/arm64 from the registry: %v %v", cf, err)
	}
}

// TestChartDefaults: the chart's default image is this one: its repository
// is the tool's default, its tag empty (the chart's appVersion), and the
// tool's default version is that appVersion.
func TestChartDefaults(t *testing.T) {
	v, err := chartAppVersion("../..")
	if err != nil {
		t.Fatal(err)
	}
	if v == "" || strings.ContainsAny(v, " \"'") {
		t.Errorf("appVersion %q", v)
	}
	values, err := os.ReadFile("../helm/hookstream/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  repository: " + defaultRepo + "\n", "  tag: \"\"\n"} {
		if !strings.Contains(string(values), want) {
			t.Errorf("values.yaml has no line %q", strings.TrimSpace(want))
		}
	}
}

func TestSourceDate(t *testing.T) {
	for _, c := range []struct {
		env, commit string
		want        int64
		bad         bool
	}{
		{"", "", 0, false},
		{"", "1700000000", 1700000000, false},
		{"1600000000", "1700000000", 1600000000, false},
		{"soon", "1700000000", 0, true},
		{"-5", "", 0, true},
	} {
		got, err := sourceDate(c.env, c.commit)
		if (err != nil) != c.bad || (!c.bad && got.Unix() != c.want) {
			t.Errorf("sourceDate(%q, %q) = %v, %v", c.env, c.commit, got, err)
		}
	}
}
