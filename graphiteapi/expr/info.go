package expr

// FunctionInfo describes one function for /functions in graphite-web's JSON shape.
type FunctionInfo struct {
	Name        string      `json:"name"`
	Function    string      `json:"function"`
	Description string      `json:"description"`
	Module      string      `json:"module"`
	Group       string      `json:"group"`
	Params      []ParamInfo `json:"params"`
}

// ParamInfo describes one parameter in graphite-web's /functions JSON shape;
// the optional keys are left out when unset, as graphite-web leaves them out.
type ParamInfo struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Required    bool   `json:"required,omitempty"`
	Default     any    `json:"default,omitempty"`
	Multiple    bool   `json:"multiple,omitempty"`
	Options     []any  `json:"options,omitempty"`
	Suggestions []any  `json:"suggestions,omitempty"`
}
