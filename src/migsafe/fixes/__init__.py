"""Renderers: a Plan written as code for one framework."""
