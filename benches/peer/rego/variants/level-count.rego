# Variant: the number of thresholds met is the level. NOT faithful in general: it assumes no
# null threshold sits between two non-null ones (true of the default policy).
package airisk.level

import rego.v1

rule := data.airisk.rules[input.rule]

t := rule.thresholds[input.grade]

names := ["none", "blue", "yellow", "orange", "red"]

up := count([th | some th in t; th != null; input.value >= th]) if object.get(rule, "direction", "above") == "above"

up := count([th | some th in t; th != null; input.value <= th]) if object.get(rule, "direction", "above") == "below"

level := names[up]
