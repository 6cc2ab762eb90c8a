package docker

import (
	"context"
	"errors"
	"io"
	"strings"
)

// Image is a tagged image, or an untagged one by ID.
type Image struct {
	Ref string // REPOSITORY:TAG, or the ID when untagged
	ID  string
}

// ImageExists tells whether the engine has image ref.
func (d CLI) ImageExists(ctx context.Context, ref string) (bool, error) {
	err := d.run(ctx, "inspecting image "+ref, "image", "inspect", "--format", "{{.Id}}", ref)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Images lists the images carrying all of labels.
func (d CLI) Images(ctx context.Context, labels Labels) ([]Image, error) {
	args := append([]string{"images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"}, labels.filterArgs()...)
	lines, err := d.lines(ctx, "listing images", args...)
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, l := range lines {
		ref, id, _ := strings.Cut(l, " ")
		if strings.Contains(ref, "<none>") {
			ref = id
		}
		out = append(out, Image{Ref: ref, ID: id})
	}
	return out, nil
}

// RemoveImages removes images by reference; with force also those tagged
// twice. ErrInUse while a container uses one.
func (d CLI) RemoveImages(ctx context.Context, force bool, refs ...string) error {
	if len(refs) == 0 {
		return nil
	}
	args := []string{"rmi"}
	if force {
		args = append(args, "--force")
	}
	return d.run(ctx, "removing images "+strings.Join(refs, ", "), append(args, refs...)...)
}

// Import makes image ref of the root file system tar read from archive,
// with Dockerfile instructions changes (LABEL, ENTRYPOINT, ...).
func (d CLI) Import(ctx context.Context, archive io.Reader, ref string, changes ...string) error {
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	return d.stream(ctx, "importing image "+ref, archive, nil, append(args, "-", ref)...)
}

// Commit makes image ref of a container's file system, with changes.
func (d CLI) Commit(ctx context.Context, container, ref string, changes ...string) error {
	args := []string{"commit"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	return d.run(ctx, "committing "+container+" as "+ref, append(args, container, ref)...)
}

// Save writes image ref as a docker-archive tar stream to w.
func (d CLI) Save(ctx context.Context, ref string, w io.Writer) error {
	return d.stream(ctx, "saving image "+ref, nil, w, "save", ref)
}

// Tag gives image src the name dst too.
func (d CLI) Tag(ctx context.Context, src, dst string) error {
	return d.run(ctx, "tagging "+src+" as "+dst, "tag", src, dst)
}

// Push pushes image ref to the registry its name starts with.
func (d CLI) Push(ctx context.Context, ref string) error {
	return d.run(ctx, "pushing "+ref, "push", "--quiet", ref)
}
