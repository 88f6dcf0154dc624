"""tunesafe: what did this fine-tune do to the model's safety, knowledge and truthfulness?"""

__version__ = "0.1.0"
