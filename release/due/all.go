package due

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/cisecs/cisecs/images"
)

// CheckAll decides for each of imgs whether it is due, each in region
// (empty: the image's own), with one Checker a region, made by
// newChecker. It returns the decisions of the images it could check, in
// order, and the errors of those it could not; err is newChecker's, which
// stops it.
func CheckAll(ctx context.Context, imgs []images.Image, region string, newChecker func(ctx context.Context, region string) (Checker, error)) (decisions []Decision, failed []error, err error) {
	checkers := map[string]Checker{}
	for _, img := range imgs {
		r := region
		if r == "" {
			r = img.Region
		}
		c, ok := checkers[r]
		if !ok {
			if c, err = newChecker(ctx, r); err != nil {
				return nil, nil, err
			}
			checkers[r] = c
		}
		d, err := c.Check(ctx, img)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		decisions = append(decisions, d)
	}
	return decisions, failed, nil
}

// JSON is the decisions as cisecs source prints them: one an object, more
// an array, indented, with "->" left as it is.
func JSON(decisions []Decision) ([]byte, error) {
	var v any = decisions
	if len(decisions) == 1 {
		v = decisions[0]
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "->" in the messages, not "-\u003e"
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
