"""The recurrent language models: the Nested LSTM kernel, the model definitions and their
checkpoint files."""
