package contract

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadManager(t *testing.T) {
	base := map[string]string{
		EnvManagerRegion.Name:           "westeurope",
		EnvManagerStamps.Name:           `[{"id":"a","url":"http://a","stateBlob":"stamps-a"}]`,
		EnvManagerConnectionString.Name: "UseDevelopmentStorage=true",
		EnvManagerContainer.Name:        "state",
		EnvManagerOperatorToken.Name:    "0123456789abcdef",
	}
	env := func(over map[string]string) func(string) string {
		return func(k string) string {
			if v, ok := over[k]; ok {
				return v
			}
			return base[k]
		}
	}
	c, err := LoadManager(env(nil))
	require.NoError(t, err)
	assert.Equal(t, "manager/westeurope.json", c.StateBlob)
	assert.Equal(t, StampHealthPath, c.HealthPath)
	assert.Equal(t, StateComponent, c.StateComponent)
	assert.Equal(t, DefaultFailThreshold, c.FailThreshold)
	assert.Equal(t, DefaultProbeTimeout, c.ProbeTimeout)

	e, err := c.Environ()
	require.NoError(t, err)
	back, err := LoadManager(env(toMap(e)))
	require.NoError(t, err)
	assert.Equal(t, c, back, "Environ is the inverse of LoadManager")

	c, err = LoadManager(env(map[string]string{EnvFunctionsPort.Name: "7777", EnvManagerFailThreshold.Name: "5", EnvManagerInterval.Name: "2s"}))
	require.NoError(t, err)
	assert.Equal(t, ":7777", c.Addr)
	assert.Equal(t, 5, c.FailThreshold)

	bad := []struct {
		v   Var
		val string
	}{
		{EnvManagerRegion, ""},
		{EnvManagerStamps, ""},
		{EnvManagerStamps, `[{"id":"a","url":"http://a","stateBlob":"x","extra":1}]`},
		{EnvManagerStamps, `[{"id":"a","url":"http://a","stateBlob":"x"},{"id":"a","url":"http://b","stateBlob":"y"}]`},
		{EnvManagerStamps, `[{"id":"a","url":"","stateBlob":"x"}]`},
		{EnvManagerConnectionString, ""},
		{EnvManagerOperatorToken, "short"}, // set but too short
		{EnvManagerFailThreshold, "zero"},
		{EnvManagerProbeTimeout, "5 parsecs"},
		{EnvFunctionsPort, "http"},
	}
	for _, b := range bad {
		t.Run(b.v.Name+"="+b.val, func(t *testing.T) {
			_, err := LoadManager(env(map[string]string{b.v.Name: b.val}))
			require.Error(t, err)
			name := b.v.Name
			if b.v == EnvManagerConnectionString {
				name = EnvManagerContainerURL.Name // the error names both alternatives
			}
			assert.True(t, strings.Contains(err.Error(), name), err.Error())
		})
	}
}

func TestManagerReadsEveryVariable(t *testing.T) {
	read := map[string]bool{}
	_, err := LoadManager(func(k string) string {
		read[k] = true
		switch k {
		case EnvManagerRegion.Name:
			return "r"
		case EnvManagerStamps.Name:
			return `[{"id":"a","url":"http://a","stateBlob":"a1"}]`
		case EnvManagerContainerURL.Name:
			return "https://a.blob.core.windows.net/state"
		}
		return ""
	})
	require.NoError(t, err)
	for _, v := range ManagerVars() {
		assert.True(t, read[v.Name], "LoadManager does not read %s", v.Name)
	}
	assert.Len(t, read, len(ManagerVars()))
}
