# Hugging Face's GPT2LMHeadModel from a config (three blocks, narrow), initialized by the GPT-2
# preset (its Conv1D projections included): `torchinit init tests_ecosystem/configs/hf_gpt2.py`
# (with tests_ecosystem importable: transformers imports torchvision too, see ecosystem_shim).
import ecosystem_shim

ecosystem_shim.install()

from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from torchinit import presets  # noqa: E402


def gpt2(**config):
    return GPT2LMHeadModel(GPT2Config(**config))


model = dict(
    type=gpt2,
    vocab_size=100,
    n_embd=32,
    n_layer=3,
    n_head=2,
    n_positions=64,
    bos_token_id=1,
    eos_token_id=2,
    init_cfg=presets.gpt2_init(),
)
input_shape = [1, 8]
