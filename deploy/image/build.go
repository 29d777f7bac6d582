package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's shape: what the chart and the tests rely on.
const (
	binaryPath = "/usr/local/bin/hookstream"
	userID     = 65532 // the "nonroot" user of distroless images
	userName   = "nonroot"
)

// OCI annotation keys (image-spec annotations.md), used as labels on each
// image's config and as annotations on the index.
const (
	labelSource   = "org.opencontainers.image.source"
	labelRevision = "org.opencontainers.image.revision"
	labelVersion  = "org.opencontainers.image.version"
	labelCreated  = "org.opencontainers.image.created"
	labelTitle    = "org.opencontainers.image.title"
	labelRefName  = "org.opencontainers.image.ref.name"
)

// options says what to build.
type options struct {
	Src       string // module root
	Version   string
	Revision  string
	SourceURL string
	Epoch     time.Time // every timestamp in the image
	Platforms []v1.Platform
	Go        string    // the go command; empty: "go" on PATH
	Log       io.Writer // go build's output
}

// build compiles hookstream for each platform and returns the image index.
// Nothing is written but go build's temporary binaries.
func build(ctx context.Context, o options) (v1.ImageIndex, error) {
	if len(o.Platforms) == 0 {
		return nil, errors.New("build: no platform")
	}
	tmp, err := os.MkdirTemp("", "hookstream-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	if o.Go == "" {
		o.Go = "go"
	}
	base, err := baseLayer(ctx, o.Go, o.Epoch)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	labels := map[string]string{
		labelSource:   o.SourceURL,
		labelRevision: o.Revision,
		labelVersion:  o.Version,
		labelCreated:  o.Epoch.Format(time.RFC3339),
		labelTitle:    "hookstream",
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.Platforms {
		bin := filepath.Join(tmp, "hookstream-"+p.OS+"-"+p.Architecture)
		if err := compile(ctx, o, p, bin); err != nil {
			return nil, err
		}
		app, err := binaryLayer(bin, o.Epoch)
		if err != nil {
			return nil, fmt.Errorf("binary layer %s: %w", p, err)
		}
		img, err := image(p, o.Epoch, labels, base, app)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.OS, Architecture: p.Architecture}},
		})
	}
	return mutate.Annotations(idx, labels).(v1.ImageIndex), nil
}

// compile builds a static, path-free hookstream for p into bin.
func compile(ctx context.Context, o options, p v1.Platform, bin string) error {
	// -buildvcs=false: the revision is in the labels, and a binary that
	// does not depend on .git is the same from a clone or an archive.
	// -s -w: no symbol table or DWARF (a stack trace still has names).
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w", "-o", bin, "./cmd/hookstream")
	cmd.Dir = o.Src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", p, err)
	}
	return nil
}

// image assembles one platform's image: the base layer, then the binary.
func image(p v1.Platform, epoch time.Time, labels map[string]string, base, app v1.Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint:   []string{binaryPath},
			Cmd:          []string{"run"},
			User:         strconv.Itoa(userID) + ":" + strconv.Itoa(userID),
			Env:          []string{"PATH=/usr/local/bin"},
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "9090/tcp": {}},
			Labels:       labels,
		},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created: v1.Time{Time: epoch}, CreatedBy: "hookstream deploy/image: CA certificates, time zones, passwd",
		}},
		mutate.Addendum{Layer: app, History: v1.History{
			Created: v1.Time{Time: epoch}, CreatedBy: "hookstream deploy/image: go build -trimpath " + binaryPath,
		}},
	)
}

// writeLayout replaces dir with an OCI layout holding idx, named ref (the
// org.opencontainers.image.ref.name annotation: `podman load` and `ctr
// import` name the image after it).
func writeLayout(dir string, idx v1.ImageIndex, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{labelRefName: ref})); err != nil {
		return fmt.Errorf("layout %s: %w", dir, err)
	}
	return nil
}

// writeArchive writes the layout in dir as a tar file (an "oci-archive",
// what `podman load`, `skopeo copy oci-archive:` and `ctr images import`
// read), as reproducibly as the layers: sorted, fixed modes and times.
func writeArchive(file, dir string, epoch time.Time) error {
	var es []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		e := entry{name: filepath.ToSlash(rel), dir: d.IsDir(), mode: 0o644}
		if e.dir {
			e.mode = 0o755
		} else if e.data, err = os.ReadFile(p); err != nil {
			return err
		}
		es = append(es, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	tmp := file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer os.Remove(tmp)
	if err := writeTar(f, es, epoch); err != nil {
		f.Close()
		return fmt.Errorf("archive: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return os.Rename(tmp, file)
}
