package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// entry is one file or directory of a layer.
type entry struct {
	name string // relative, slash-separated, no trailing slash
	dir  bool
	mode int64
	uid  int
	data []byte
}

// Where the base layer puts what Go (and most programs) look for.
const (
	caFile      = "etc/ssl/certs/ca-certificates.crt"
	zoneinfoDir = "usr/share/zoneinfo"
)

// baseLayer holds what a static binary needs from an OS: CA certificates,
// the time zone database, passwd and group entries for the non-root user, a
// writable /tmp. No shell, no package manager, no libc.
func baseLayer(ctx context.Context, gocmd string, epoch time.Time) (v1.Layer, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	zones, err := zoneinfo(ctx, gocmd)
	if err != nil {
		return nil, err
	}
	uid := fmt.Sprint(userID)
	es := []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				userName + ":x:" + uid + ":" + uid + ":" + userName + ":/home/" + userName + ":/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\n" + userName + ":x:" + uid + ":\n")},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: caFile, mode: 0o644, data: certs},
		{name: "home/" + userName, dir: true, mode: 0o700, uid: userID},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "usr/local/bin", dir: true, mode: 0o755},
	}
	es = append(es, zones...)
	return tarLayer(es, epoch)
}

// binaryLayer holds the hookstream binary alone.
func binaryLayer(bin string, epoch time.Time) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return tarLayer([]entry{{name: strings.TrimPrefix(binaryPath, "/"), mode: 0o755, data: data}}, epoch)
}

// caBundle is Mozilla's root store as golang.org/x/crypto/x509roots/fallback
// carries it (pinned by go.sum, so every machine builds the same file), in
// PEM. A root NSS trusts only with a constraint PEM cannot say (a distrust
// date) is left out: better to refuse a certificate than to trust one NSS
// does not.
func caBundle() ([]byte, error) {
	var b bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA certificates: the bundle is empty")
	}
	return b.Bytes(), nil
}

// zoneinfo unpacks the Go toolchain's lib/time/zoneinfo.zip (the IANA
// database that time/tzdata embeds) under /usr/share/zoneinfo, where Go and
// other programs look for it.
func zoneinfo(ctx context.Context, gocmd string) ([]entry, error) {
	out, err := exec.CommandContext(ctx, gocmd, "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("time zones: go env GOROOT: %w", err)
	}
	zipPath := filepath.Join(strings.TrimSpace(string(out)), "lib", "time", "zoneinfo.zip")
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("time zones: %w", err)
	}
	defer zr.Close()
	var es []entry
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		name := path.Clean(f.Name)
		if !fs.ValidPath(name) {
			return nil, fmt.Errorf("time zones: %s: bad name %q", zipPath, f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("time zones: %s: %w", f.Name, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("time zones: %s: %w", f.Name, err)
		}
		es = append(es, entry{name: zoneinfoDir + "/" + name, mode: 0o644, data: data})
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("time zones: %s is empty", zipPath)
	}
	return es, nil
}

// tarLayer makes es one gzip layer (see writeTar).
func tarLayer(es []entry, epoch time.Time) (v1.Layer, error) {
	var b bytes.Buffer
	if err := writeTar(&b, es, epoch); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	data := b.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// writeTar writes es, and every parent directory they need, as a tar
// stream: entries sorted by name, owned by root (but for an entry's own
// uid), stamped with epoch, with the modes given. The same entries always
// make the same bytes.
func writeTar(w io.Writer, es []entry, epoch time.Time) error {
	all := map[string]entry{}
	for _, e := range es {
		if _, dup := all[e.name]; dup {
			return fmt.Errorf("%s twice", e.name)
		}
		all[e.name] = e
	}
	for _, e := range es {
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = entry{name: d, dir: true, mode: 0o755}
			}
		}
	}
	tw := tar.NewWriter(w)
	for _, n := range slices.Sorted(maps.Keys(all)) {
		e := all[n]
		h := &tar.Header{
			Name:    e.name,
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return tw.Close()
}
