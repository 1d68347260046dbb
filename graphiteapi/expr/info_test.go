package expr

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"
)

// TestFunctionsInfoMatchesGraphiteWeb checks Functions() against what
// graphite-web's /functions says of the same functions
// (testdata/functions.json, made by testdata/gen_goldens.py): every field
// but the description, which is ours.
func TestFunctionsInfoMatchesGraphiteWeb(t *testing.T) {
	b, err := os.ReadFile("testdata/functions.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]any
	if err := decodeNumbers(b, &want); err != nil {
		t.Fatalf("failed to decode testdata/functions.json: %v", err)
	}
	got := Functions()
	if g, w := sortedKeys(got), sortedKeys(want); !slices.Equal(g, w) {
		t.Fatalf("Functions() has %v, want %v", g, w)
	}
	for name, info := range got {
		if info.Description == "" {
			t.Errorf("%s has no description", name)
		}
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var g map[string]any
		if err := decodeNumbers(b, &g); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		delete(g, "description")
		w := want[name]
		// graphite-web's JSON encoder writes infinity as the number
		// 1e9999; the generator stores it as a string.
		if name == "keepLastValue" {
			w["params"].([]any)[1].(map[string]any)["default"] = json.Number("1e9999")
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %s\nwant %s", name, mustJSON(g), mustJSON(w))
		}
	}
}

// decodeNumbers decodes keeping numbers as written (1e9999 is no float64).
func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
