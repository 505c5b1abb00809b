import './allclose.ts';
