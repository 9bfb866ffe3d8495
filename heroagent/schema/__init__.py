"""The rules of what HeroAgent accepts as input, below every layer that takes input.

Plain data and its checks, importing nothing of HeroAgent but `errors` and `heroscript`, so the config
loader, the job core, the scheduler and the web layer all enforce the same rules.
"""
