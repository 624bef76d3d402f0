package images

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Load reads and checks the definition files at paths. It reports every
// problem in all of them at once, including an image name that two files
// define, as Problems; it returns the images only when there is none, in
// name order.
func Load(paths []string) ([]Image, error) {
	var (
		imgs  []Image
		probs Problems
		first = map[string]Problem{} // where each name is first defined
	)
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			probs = append(probs, Problem{File: p, Message: fmt.Sprintf("cannot read the definition: %v", err)})
			continue
		}
		img, at, err := parse(p, src)
		if err != nil {
			probs = append(probs, err.(Problems)...)
			continue
		}
		if f, dup := first[img.Name]; dup {
			probs = append(probs, Problem{File: p, Line: at.Line, Column: at.Column,
				Message: fmt.Sprintf("image %q: already defined at %s:%d:%d; image names must be unique", img.Name, f.File, f.Line, f.Column)})
			continue
		}
		first[img.Name] = Problem{File: p, Line: at.Line, Column: at.Column}
		imgs = append(imgs, img)
	}
	if len(probs) > 0 {
		probs.sort()
		return nil, probs
	}
	slices.SortFunc(imgs, func(a, b Image) int { return cmp.Compare(a.Name, b.Name) })
	return imgs, nil
}

// Files returns the definition files in dir, dir/*.hcl, in name order;
// none is an error.
func Files(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.hcl"))
	if err != nil {
		return nil, fmt.Errorf("list definitions in %q: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no image definitions in %s", filepath.Join(dir, "*.hcl"))
	}
	slices.Sort(paths)
	return paths, nil
}
