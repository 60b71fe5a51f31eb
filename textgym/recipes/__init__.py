"""Recipes: whole studies built on the layers below (envs, models, policies, evaluation,
trainers), each in its own package. A recipe may import anything generic; nothing generic
imports a recipe."""
