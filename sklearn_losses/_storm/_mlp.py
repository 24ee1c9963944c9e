"""STORM's step on the built-in network, differentiated by hand.

For :class:`~sklearn_losses.networks.MLPNetwork` (linear layers, ReLU,
dropout) every quantity of a STORM step has a short closed form: the forward
pass, the weighted gradient of the batch's losses, and the derivative of each
unit's loss along a direction in parameter space (the forward-mode product
that gives the meta-gradient). Written out, a step runs about a third of the
tensor operations autograd records and replays for the same step, with no
graph of the module at all; on a small network the count of operations is
what a step costs. The autograd paths stay the reference (and serve every
other module); tests check agreement to rounding.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .._engine._network import fast_keep_mask

__all__ = ["MLPPasses"]


class _Pass:
    """What the gradient and the directional derivative need of a forward pass:
    each linear layer's input, and the gate of each hidden layer (ReLU's
    derivative times the dropout mask)."""

    def __init__(self, inputs, gates):
        self.inputs, self.gates = inputs, gates


class MLPPasses:
    """Forward passes, gradients and directional derivatives of an ``MLPNetwork``.

    Parameters are taken as the flat sequence ``(W_1, b_1, ..., W_L, b_L)``,
    the network's ``named_parameters`` order, so the module's own tensors and
    look-ahead values are used alike.

    Parameters
    ----------
    module : MLPNetwork
        The network; only its structure (dropout probability) is read.
    """

    def __init__(self, module):
        dropouts = [m.p for m in module.body if isinstance(m, nn.Dropout)]
        self.dropout = dropouts[0] if dropouts else 0.0

    def _mask(self, hidden):
        """A dropout mask for ``hidden``, drawn as the network's dropout layer
        draws a mask of that shape (on the CPU from the same random numbers)."""
        mask = fast_keep_mask(hidden, self.dropout)
        if mask is not None:
            return mask
        keep = 1.0 - self.dropout
        return torch.empty_like(hidden).bernoulli_(keep).div_(keep)

    def run(self, params, X, n_passes, input_dropout=0.0):
        """``n_passes`` dropout passes, the first recorded for differentiation.

        With dropout layers, all passes are one batch: they share the first
        layer's activation, which has no randomness, and each layer draws
        the masks of all passes at once. With one hidden layer whose width
        times the rows is a multiple of 4, these are the masks the network's
        own passes draw (pass 1's, then the others'); otherwise the random
        numbers are used in another order, so a seeded fit differs from the
        autograd paths' beyond rounding, with the same distribution.

        Parameters
        ----------
        params : sequence of Tensor
            ``(W_1, b_1, ..., W_L, b_L)``.
        X : Tensor of shape (n, n_features)
        n_passes : int
        input_dropout : float, default=0.0
            Dropout on the input of passes 2.., for a network without dropout
            layers (its passes would otherwise all agree).

        Returns
        -------
        logits : Tensor of shape (n_passes * n, n_outputs)
            The passes' logits, pass 1's first.
        record : _Pass
            Pass 1's record for :meth:`gradients` and :meth:`slopes`.
        """
        weights, biases = params[0::2], params[1::2]
        if not self.dropout:
            logits, record = self._without_dropout(weights, biases, X)
            Xe = torch.cat([X] * (n_passes - 1))
            if input_dropout:
                Xe = F.dropout(Xe, input_dropout)
            extra = self._without_dropout(weights, biases, Xe, record=False)[0]
            return torch.cat([logits, extra]), record
        return self._with_dropout(weights, biases, X, n_passes)

    @staticmethod
    def _without_dropout(weights, biases, A, record=True):
        inputs, gates = [A], []
        for W, b in zip(weights[:-1], biases[:-1]):
            A = torch.addmm(b, A, W.T).relu_()
            if record:
                inputs.append(A)
                gates.append(A > 0)
        return torch.addmm(biases[-1], A, weights[-1].T), _Pass(inputs, gates)

    def _with_dropout(self, weights, biases, X, n_passes):
        """All passes as one batch from the first hidden activation on."""
        n, inputs, gates = len(X), [X], []
        hidden = torch.addmm(biases[0], X, weights[0].T).relu_()
        # A broadcast view: the first masks are drawn in the copies' shape.
        hidden = hidden.expand(n_passes, *hidden.shape)
        for layer, (W, b) in enumerate(zip(weights[1:], biases[1:]), 1):
            mask = self._mask(hidden)
            A = (hidden * mask).view(-1, hidden.shape[-1])
            # Pass 1's rows: ReLU's derivative times the mask, in one operation.
            hidden_1 = hidden[0] if layer == 1 else hidden[:n]
            mask_1 = mask[0] if layer == 1 else mask[:n]
            inputs.append(A[:n])
            gates.append(torch.ops.aten.threshold_backward(mask_1, hidden_1, 0))
            hidden = torch.addmm(b, A, W.T)
            if layer < len(weights) - 1:
                hidden = hidden.relu_()
        return hidden, _Pass(inputs, gates)

    def gradients(self, params, record, grad_logits):
        """Gradient of ``sum(grad_logits * logits)`` in ``params`` at pass 1.

        Returns
        -------
        grads : list of Tensor
            In the order of ``params``.
        """
        weights = params[0::2]
        grads = [None] * len(params)
        delta = grad_logits
        for layer in range(len(weights) - 1, -1, -1):
            grads[2 * layer] = torch.mm(delta.T, record.inputs[layer])
            grads[2 * layer + 1] = delta.sum(0)
            if layer:
                delta = torch.mm(delta, weights[layer]) * record.gates[layer - 1]
        return grads

    def slopes(self, params, record, direction):
        """Derivative of pass 1's logits at ``params`` along ``direction``
        (a sequence like ``params``), shape (n, n_outputs)."""
        weights = params[0::2]
        d_weights, d_biases = direction[0::2], direction[1::2]
        tangent = torch.addmm(d_biases[0], record.inputs[0], d_weights[0].T)
        for layer in range(1, len(weights)):
            gated = tangent * record.gates[layer - 1]
            tangent = torch.addmm(
                torch.addmm(d_biases[layer], record.inputs[layer], d_weights[layer].T),
                gated, weights[layer].T,
            )
        return tangent
