"""GAN Clinic's engine: data, networks, losses, penalties, optimisers, metrics, the training loop
and the job queue. Nothing here imports Streamlit, and nothing here knows about a particular demo:
the demos (``demos/``) say *what* to train and claim; the engine says *how* to train it.
"""
