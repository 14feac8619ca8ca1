# Variant: the levels met as a set, the highest by max().
package airisk.level

import rego.v1

rule := data.airisk.rules[input.rule]

t := rule.thresholds[input.grade]

direction := object.get(rule, "direction", "above")

names := ["blue", "yellow", "orange", "red"]

met contains i if {
	direction == "above"
	some i, th in t
	th != null
	input.value >= th
}

met contains i if {
	direction == "below"
	some i, th in t
	th != null
	input.value <= th
}

default level := "none"

level := names[max(met)] if count(met) > 0
